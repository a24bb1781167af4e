// Friends: search, requests, unfriend, block; a person's page with their shared moods and a hug form.

import { del, explain, get, postJson, put, query } from "../api.js";
import { clear, field, h, section, toast } from "../dom.js";
import { load, me, personLink, statusLine, submitting } from "./common.js";
import { entryItem } from "./today.js";

async function act(promise, done) {
  try {
    await promise;
    toast(done);
    return true;
  } catch (err) {
    toast(`⚠ ${explain(err)}`);
    return false;
  }
}

function person(p, ...actions) {
  return h("li", { class: "person" }, personLink(p.user_id, p.display_name || p.username || "Someone"),
    p.username ? h("span", { class: "muted" }, ` @${p.username}`) : null, h("span", { class: "actions" }, actions));
}

export async function friendsView(main) {
  const q = h("input", { type: "search", name: "q", maxlength: 100, required: true });
  const results = h("ul", { class: "people" });
  const search = h("form", { role: "search" }, field("Find people by name or username", q), h("button", { type: "submit" }, "Search"));
  const friendsBox = h("div");
  const pendingBox = h("div");
  const blockedBox = h("div");
  const suggestionsBox = h("div");
  main.append(
    h("h1", {}, "Friends"),
    section("Find people", search, results),
    section("Requests", pendingBox),
    section("Your friends", friendsBox),
    section("People you may know", suggestionsBox),
    section("Blocked", blockedBox),
  );
  const refresh = () => {
    load(friendsBox, async () => {
      const page = await get(`/api/v1/users/${me()}/friends${query({ limit: 100 })}`);
      if (!page.items.length) return h("p", { class: "muted" }, "No friends yet. Search for someone above.");
      return h("ul", { class: "people" }, page.items.map((f) =>
        person(f, h("button", { type: "button", onclick: async () => {
          if (confirm("Remove this friend?") && (await act(del(`/api/v1/users/me/friends/${f.user_id}`), "Removed."))) refresh();
        } }, "Unfriend"))));
    });
    load(pendingBox, async () => {
      const page = await get(`/api/v1/users/${me()}/friends${query({ status: "pending", limit: 100 })}`);
      if (!page.items.length) return h("p", { class: "muted" }, "No requests waiting.");
      return h("ul", { class: "people" }, page.items.map((f) => f.direction === "incoming"
        ? person(f, h("span", { class: "muted" }, "wants to be friends "),
          h("button", { type: "button", class: "primary", onclick: async () => (await act(put(`/api/v1/users/me/friends/${f.user_id}`, { status: "accepted" }), "You are friends now.")) && refresh() }, "Accept"),
          h("button", { type: "button", onclick: async () => (await act(put(`/api/v1/users/me/friends/${f.user_id}`, { status: "declined" }), "Declined.")) && refresh() }, "Decline"))
        : person(f, h("span", { class: "muted" }, "request sent "),
          h("button", { type: "button", onclick: async () => (await act(del(`/api/v1/users/me/friends/${f.user_id}`), "Request withdrawn.")) && refresh() }, "Withdraw"))));
    });
    load(blockedBox, async () => {
      const page = await get(`/api/v1/users/${me()}/friends${query({ status: "blocked", limit: 100 })}`);
      if (!page.items.length) return h("p", { class: "muted" }, "You have blocked no one.");
      return h("ul", { class: "people" }, page.items.map((f) =>
        person(f, h("button", { type: "button", onclick: async () => (await act(del(`/api/v1/users/me/friends/${f.user_id}`), "Unblocked.")) && refresh() }, "Unblock"))));
    });
    load(suggestionsBox, async () => {
      const page = await get("/api/v1/social/recommendations");
      const items = page.items || [];
      if (!items.length) return h("p", { class: "muted" }, "No suggestions yet: they come from your friends' friends.");
      const { nameOf } = await import("./common.js");
      const rows = await Promise.all(items.map(async (r) => h("li", { class: "person" }, personLink(r.user_id, await nameOf(r.user_id)),
        h("span", { class: "muted" }, ` · ${r.mutual_friends} mutual friend${r.mutual_friends === 1 ? "" : "s"}`))));
      return h("ul", { class: "people" }, rows);
    });
  };
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(results);
    try {
      const page = await get(`/api/v1/users/search${query({ q: q.value.trim(), limit: 20 })}`);
      if (!page.items.length) results.append(h("li", { class: "muted" }, "Nobody found."));
      for (const p of page.items) {
        if (p.user_id === me()) continue;
        results.append(person(p, h("button", { type: "button", onclick: async () => (await act(postJson(`/api/v1/users/${p.user_id}/friends`, {}), "Friend request sent.")) && refresh() }, "Add friend")));
      }
    } catch (err) {
      results.append(h("li", { class: "error", role: "alert" }, `⚠ ${explain(err)}`));
    }
  });
  refresh();
}

export async function personView(main, userId) {
  const profileBox = h("div");
  const hugBox = h("div");
  const moodsBox = h("div");
  main.append(h("h1", {}, "Profile"), section("About", profileBox), section("Send a hug", hugBox), section("Shared moods", moodsBox));
  load(profileBox, async () => {
    const p = await get(`/api/v1/users/${encodeURIComponent(userId)}`);
    main.querySelector("h1").textContent = p.display_name || p.username;
    const relation = p.user_id === me() ? null : h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => act(postJson(`/api/v1/users/${p.user_id}/friends`, {}), "Friend request sent.") }, "Add friend"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (confirm("Block this person? They cannot find you, send you requests or hug you.")) await act(put(`/api/v1/users/me/friends/${p.user_id}`, { status: "blocked" }), "Blocked.");
      } }, "Block"));
    return h("div", {}, h("p", {}, h("strong", { class: "display-name" }, p.display_name || p.username), h("span", { class: "muted" }, ` @${p.username}`)),
      p.bio ? h("p", { class: "bio" }, p.bio) : null,
      p.location ? h("p", { class: "muted" }, `📍 ${p.location}`) : null,
      p.last_active ? h("p", { class: "muted" }, `Last active ${new Date(p.last_active).toLocaleString()}`) : null,
      relation);
  });
  load(hugBox, async () => hugForm(userId));
  load(moodsBox, async () => {
    const page = await get(`/api/v1/moods/user/${encodeURIComponent(userId)}${query({ limit: 20 })}`);
    if (!page.items.length) return h("p", { class: "muted" }, "Nothing shared with you.");
    return h("ul", { class: "entries" }, page.items.map((e) => entryItem(e)));
  });
}

let hugTypes = null;

export async function types() {
  if (!hugTypes) hugTypes = (await get("/api/v1/hugs/types")).items;
  return hugTypes;
}

export async function hugForm(recipientId) {
  const list = await types();
  const type = h("select", { name: "type" }, list.map((t) => h("option", { value: t.name }, t.label || t.name)));
  const message = h("textarea", { name: "message", maxlength: 500, rows: 2 });
  const status = statusLine();
  const form = h("form", {}, field("Kind of hug", type), field("Message (optional)", message), h("button", { type: "submit", class: "primary" }, "Send hug 🤗"), status);
  submitting(form, status, async () => {
    await postJson("/api/v1/hugs", { recipient_id: recipientId, type: type.value, message: message.value.trim() || null });
    message.value = "";
    return "Hug sent.";
  });
  return form;
}
