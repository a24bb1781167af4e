// Pieces the screens share: a section that loads on its own and degrades on its own.

import { ApiError, explain, get, session } from "../api.js";
import { clear, h } from "../dom.js";

// Fill `box` from `loader`; a failure (a 503 of one service) leaves a message and a retry button
// in this box only, never the whole page.
export async function load(box, loader) {
  clear(box);
  box.append(h("p", { class: "muted" }, "Loading…"));
  try {
    const content = await loader();
    clear(box);
    if (content) box.append(content);
  } catch (err) {
    clear(box);
    const unavailable = err instanceof ApiError && err.status >= 500;
    box.append(
      h(
        "div",
        { class: unavailable ? "degraded" : "error", role: "alert" },
        h("p", {}, unavailable ? "⚠ This part is unavailable right now. " : "⚠ ", explain(err)),
        h("button", { type: "button", onclick: () => load(box, loader) }, "Try again"),
      ),
    );
  }
}

export function me() {
  return session.user ? session.user.id : null;
}

// Names of users by id, fetched once per page view.
const names = new Map();

export async function nameOf(userId) {
  if (!userId) return "Someone";
  if (userId === me()) return "You";
  if (!names.has(userId)) {
    names.set(
      userId,
      get(`/api/v1/users/${userId}`)
        .then((p) => p.display_name || p.username)
        .catch(() => "Someone"),
    );
  }
  return names.get(userId);
}

export function personLink(userId, name) {
  return h("a", { href: `/people/${encodeURIComponent(userId)}` }, name);
}

// A form's submit with a status line that says what happened, in words.
export function submitting(form, status, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    status.className = "status";
    status.textContent = "Working…";
    try {
      const message = await action();
      status.className = "status ok";
      status.textContent = message || "Done.";
    } catch (err) {
      status.className = "status error";
      status.textContent = `⚠ ${explain(err)}`;
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export function statusLine() {
  return h("p", { class: "status", role: "status", "aria-live": "polite" });
}

export const MOODS = [
  ["happy", "😊", 0.85],
  ["calm", "😌", 0.7],
  ["grateful", "🙏", 0.8],
  ["excited", "🤩", 0.85],
  ["tired", "😴", 0.4],
  ["anxious", "😟", 0.25],
  ["sad", "😢", 0.2],
  ["angry", "😠", 0.15],
  ["lonely", "🥺", 0.2],
  ["stressed", "😣", 0.25],
];

export function emojiOf(mood) {
  const found = MOODS.find(([name]) => name === String(mood).toLowerCase());
  return found ? found[1] : "•";
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 100)} %`;
}

// The user's own time zone (their profile's; the API counts days and streaks in it).
export function timezone() {
  return session.profile?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

// "YYYY-MM-DD" of a moment in the user's time zone.
export function dayKey(date, tz = timezone()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}
