// Notifications: the list (kept live by the long poll), read, read all, delete.

import { del, explain, get, put, query } from "../api.js";
import { clear, h, section, toast, when } from "../dom.js";
import * as live from "../live.js";
import { load } from "./common.js";

function row(n, list) {
  const item = h(
    "li",
    { class: n.is_read ? "notification" : "notification unread", "data-id": n.id },
    n.is_read ? null : h("span", { class: "tag-new" }, "NEW"),
    h("strong", {}, n.title),
    h("p", {}, n.body),
    h("span", { class: "muted" }, when(n.created_at)),
  );
  const actions = h("div", { class: "actions" });
  if (!n.is_read) {
    actions.append(h("button", { type: "button", onclick: async () => {
      try {
        await put(`/api/v1/notifications/${n.id}/read`);
        live.markRead(n.id);
        item.replaceWith(row({ ...n, is_read: true }, list));
      } catch (err) {
        toast(`⚠ ${explain(err)}`);
      }
    } }, "Mark read"));
  }
  actions.append(h("button", { type: "button", class: "danger", onclick: async () => {
    try {
      await del(`/api/v1/notifications/${n.id}`);
      live.markRead(n.id);
      item.remove();
    } catch (err) {
      toast(`⚠ ${explain(err)}`);
    }
  } }, "Delete"));
  item.append(actions);
  return item;
}

export async function notificationsView(main) {
  const list = h("ul", { class: "notifications", "aria-live": "polite" });
  const box = h("div");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const readAll = h("button", { type: "button", onclick: async () => {
    try {
      await put("/api/v1/notifications/read-all");
      live.markAllRead();
      load(box, first);
    } catch (err) {
      toast(`⚠ ${explain(err)}`);
    }
  } }, "Mark all read");
  main.append(h("h1", {}, "Notifications"), section("Latest", h("div", { class: "actions" }, readAll), box),
    h("p", {}, h("a", { href: "/settings#notifications" }, "Notification settings and quiet hours")));
  let cursor = null;
  const page = async () => {
    const result = await get(`/api/v1/notifications${query({ limit: 20, cursor })}`);
    for (const n of result.items) list.append(row(n, list));
    cursor = result.next_cursor;
    more.hidden = !cursor;
  };
  const first = async () => {
    clear(list);
    cursor = null;
    await page();
    if (!list.children.length) list.append(h("li", { class: "muted empty" }, "Nothing yet."));
    return h("div", {}, list, more);
  };
  more.addEventListener("click", () => page().catch((err) => toast(`⚠ ${explain(err)}`)));
  load(box, first);
  const unsubscribe = live.subscribe((n) => {
    if (!document.body.contains(list)) return unsubscribe();
    if (list.querySelector(`[data-id="${CSS.escape(n.id)}"]`)) return;
    list.querySelector(".empty")?.remove();
    list.prepend(row(n, list));
  });
}
