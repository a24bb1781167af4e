// Hugs: received and sent (unread marked), hug requests (incl. community), group hugs.

import { explain, get, postJson, put, query } from "../api.js";
import { field, h, section, toast, when } from "../dom.js";
import * as live from "../live.js";
import { load, me, nameOf, personLink, statusLine, submitting } from "./common.js";
import { types } from "./friends.js";
import { share } from "./history.js";

async function hugRow(hug, received) {
  const other = received ? hug.sender_id : hug.recipient_id;
  const unread = received && !hug.is_read;
  const item = h(
    "li",
    { class: unread ? "hug unread" : "hug" },
    unread ? h("span", { class: "tag-new" }, "NEW") : null,
    h("strong", {}, hug.type_label || hug.type),
    received ? " from " : " to ",
    personLink(other, await nameOf(other)),
    h("span", { class: "muted" }, ` · ${when(hug.created_at)}`),
    hug.message ? h("p", { class: "note" }, hug.message) : null,
  );
  item.append(h("button", { type: "button", onclick: () => share("hug", hug.id, item) }, "Share"));
  if (unread) {
    item.append(h("button", { type: "button", onclick: async (event) => {
      try {
        await put(`/api/v1/hugs/${hug.id}/read`);
        item.classList.remove("unread");
        item.querySelector(".tag-new")?.remove();
        event.target.remove();
      } catch (err) {
        toast(`⚠ ${explain(err)}`);
      }
    } }, "Mark read"));
  }
  return item;
}

async function friendOptions() {
  const page = await get(`/api/v1/users/${me()}/friends${query({ limit: 100 })}`);
  return page.items;
}

export async function hugsView(main) {
  const receivedBox = h("div");
  const sentBox = h("div");
  const requestsBox = h("div");
  const askBox = h("div");
  const groupBox = h("div");
  main.append(
    h("h1", {}, "Hugs"),
    section("Received", receivedBox),
    section("Hug requests", requestsBox),
    section("Ask for a hug", askBox),
    section("Group hugs", groupBox),
    section("Sent", sentBox),
  );
  const loadReceived = () => load(receivedBox, async () => {
    const page = await get(`/api/v1/hugs/received${query({ limit: 30 })}`);
    if (!page.items.length) return h("p", { class: "muted" }, "No hugs yet. They will appear here the moment they arrive.");
    return h("ul", { class: "hugs" }, await Promise.all(page.items.map((x) => hugRow(x, true))));
  });
  loadReceived();
  const unsubscribe = live.subscribe((n) => {
    if (!document.body.contains(receivedBox)) return unsubscribe();
    if (n.type === "hug_received") loadReceived();
    if (n.type === "hug_request") loadRequests();
    if (n.type === "group_hug_invite") (newGroups ? newGroups() : loadGroups()).catch(() => {});
  });
  load(sentBox, async () => {
    const page = await get(`/api/v1/hugs/sent${query({ limit: 30 })}`);
    if (!page.items.length) return h("p", { class: "muted" }, "You have not sent a hug yet. Open a friend's page to send one.");
    return h("ul", { class: "hugs" }, await Promise.all(page.items.map((x) => hugRow(x, false))));
  });
  const loadRequests = () => load(requestsBox, async () => {
    const [incoming, outgoing, hugTypes] = await Promise.all([
      get(`/api/v1/hugs/requests${query({ direction: "incoming", status: "pending" })}`),
      get(`/api/v1/hugs/requests${query({ direction: "outgoing" })}`),
      types(),
    ]);
    const answer = (r) => {
      const type = h("select", { "aria-label": "Kind of hug" }, hugTypes.map((t) => h("option", { value: t.name }, t.label || t.name)));
      return [type,
        h("button", { type: "button", class: "primary", onclick: async () => {
          try { await put(`/api/v1/hugs/request/${r.id}`, { status: "accepted", type: type.value }); toast("Hug sent."); loadRequests(); } catch (err) { toast(`⚠ ${explain(err)}`); }
        } }, "Send a hug"),
        r.is_community ? null : h("button", { type: "button", onclick: async () => {
          try { await put(`/api/v1/hugs/request/${r.id}`, { status: "declined" }); loadRequests(); } catch (err) { toast(`⚠ ${explain(err)}`); }
        } }, "Decline")];
    };
    const rows = await Promise.all(incoming.items.map(async (r) => h("li", {},
      r.is_community ? h("strong", {}, "Community: ") : null,
      personLink(r.requester_id, await nameOf(r.requester_id)), " would like a hug",
      r.message ? h("p", { class: "note" }, r.message) : null, h("div", { class: "actions" }, answer(r)))));
    const mine = outgoing.items.map((r) => h("li", { class: "muted" }, `You asked ${r.is_community ? "the community" : "a friend"} · ${r.status}`, r.message ? ` · “${r.message}”` : ""));
    return h("div", {}, rows.length ? h("ul", {}, rows) : h("p", { class: "muted" }, "No one is asking right now."), mine.length ? h("ul", {}, mine) : null);
  });
  loadRequests();
  load(askBox, async () => {
    const friends = await friendOptions().catch(() => []);
    const who = h("select", { name: "recipient" }, h("option", { value: "" }, "Anyone in the HugMood community"),
      friends.map((f) => h("option", { value: f.user_id }, f.display_name || f.username)));
    const message = h("textarea", { name: "message", maxlength: 500, rows: 2 });
    const status = statusLine();
    const form = h("form", {}, field("Who", who), field("Message (optional)", message), h("button", { type: "submit", class: "primary" }, "Ask for a hug"), status);
    submitting(form, status, async () => {
      await postJson("/api/v1/hugs/request", { recipient_id: who.value || null, message: message.value.trim() || null });
      loadRequests();
      return "Asked. Someone will be there for you.";
    });
    return form;
  });
  let newGroups = null; // adds group hugs newer than those shown, leaving the shown ones (and the form) as they are
  const loadGroups = () => load(groupBox, async () => {
    const friends = await friendOptions().catch(() => []);
    const name = h("input", { name: "group_name", type: "text", maxlength: 100, required: true });
    const message = h("textarea", { name: "group_message", maxlength: 500, rows: 2 });
    const picks = friends.map((f) => h("label", { class: "check" }, h("input", { type: "checkbox", value: f.user_id }), ` ${f.display_name || f.username}`));
    const status = statusLine();
    const list = h("ul", { class: "groups" });
    const none = h("p", { class: "muted" }, "No group hugs yet. Start one below, or wait for a friend's invitation.");
    const more = h("button", { type: "button", hidden: true }, "More group hugs");
    const form = h("form", {}, field("Name", name), h("fieldset", {}, h("legend", {}, "Invite friends"), picks.length ? picks : h("p", { class: "muted" }, "Add friends first.")),
      field("Message (optional)", message), h("button", { type: "submit", class: "primary" }, "Start a group hug"), status);
    submitting(form, status, async () => {
      const ids = picks.map((p) => p.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      if (!ids.length) throw new Error("Invite at least one friend.");
      const group = await postJson("/api/v1/hugs/group", { name: name.value.trim(), message: message.value.trim() || null, participant_ids: ids });
      none.remove();
      shown.add(group.id);
      list.prepend(await groupRow(group));
      return "Group hug started; your friends are invited.";
    });
    // The ones the user started or was invited to, newest first, a page at a time.
    const shown = new Set();
    const rows = async (items) => {
      const fresh = items.filter((g) => !shown.has(g.id));
      for (const g of fresh) shown.add(g.id);
      return Promise.all(fresh.map(groupRow));
    };
    let cursor = null;
    const nextPage = async () => {
      const page = await get(`/api/v1/hugs/group${query({ limit: 10, cursor })}`);
      list.append(...(await rows(page.items)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (list.children.length) none.remove();
    };
    newGroups = async () => {
      const page = await get(`/api/v1/hugs/group${query({ limit: 10 })}`);
      list.prepend(...(await rows(page.items)));
      if (list.children.length) none.remove();
    };
    more.addEventListener("click", () => nextPage().catch((err) => toast(`⚠ ${explain(err)}`)));
    await nextPage();
    return h("div", {}, list, more, list.children.length ? null : none, form);
  });
  loadGroups();
}

async function groupRow(group) {
  const mine = group.participants.find((p) => p.user_id === me());
  const joined = await Promise.all(group.participants.filter((p) => p.joined_at).map((p) => nameOf(p.user_id)));
  const by = group.creator_id === me() ? "started by you" : `started by ${await nameOf(group.creator_id)}`;
  const state = { active: `open until ${when(group.expires_at)}`, completed: "everyone joined", expired: "ended" }[group.status] || group.status;
  return h("li", { class: "group" }, h("strong", {}, group.name), h("span", { class: "muted" }, ` · ${by} · ${state}`),
    group.message ? h("p", { class: "note" }, group.message) : null,
    h("p", { class: "muted" }, `Joined: ${joined.length ? joined.join(", ") : "no one yet"} (${joined.length} of ${group.participants.length})`),
    mine && !mine.joined_at && group.status === "active" ? h("button", { type: "button", class: "primary", onclick: async (event) => {
      try { await put(`/api/v1/hugs/group/${group.id}/join`); event.target.replaceWith(h("span", {}, "You joined 🤗")); } catch (err) { toast(`⚠ ${explain(err)}`); }
    } }, "Join the hug") : null);
}
