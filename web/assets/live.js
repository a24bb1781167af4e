// Live notifications: one long poll at a time, from the last cursor, feeding the badge and the list.

import { ApiError, get, query } from "./api.js";
import { h, toast } from "./dom.js";

const unread = new Set();
const subscribers = new Set();
let running = null; // the AbortController of the poll loop
let cursor = null;
const badgeNode = h("span", { class: "badge", "aria-live": "polite", hidden: true });

export function badge() {
  return badgeNode;
}

function paint() {
  const n = unread.size;
  badgeNode.hidden = n === 0;
  badgeNode.textContent = n ? `${n} new` : "";
  badgeNode.setAttribute("aria-label", `${n} unread notifications`);
}

export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

export function markRead(id) {
  unread.delete(id);
  paint();
}

export function markAllRead() {
  unread.clear();
  paint();
}

export function stop() {
  if (running) running.abort();
  running = null;
  cursor = null;
  unread.clear();
  paint();
}

export function start() {
  stop();
  const controller = new AbortController();
  running = controller;
  loop(controller);
}

async function loop(controller) {
  let first = true;
  while (running === controller) {
    try {
      const page = await get(`/api/v1/notifications/poll${query({ cursor, timeout: cursor ? 25 : null })}`, {
        signal: controller.signal,
      });
      if (running !== controller) return;
      cursor = page.cursor;
      for (const item of page.items || []) {
        if (!item.is_read) unread.add(item.id);
        if (!first) toast(`${item.title}${item.body ? ` — ${item.body}` : ""}`);
        for (const fn of subscribers) fn(item);
      }
      first = false;
      paint();
    } catch (err) {
      if (controller.signal.aborted || running !== controller) return;
      // Offline or a failing service: wait and try again (the banner says so when offline).
      await new Promise((resolve) => setTimeout(resolve, err instanceof ApiError && err.offline ? 3000 : 5000));
    }
  }
}
