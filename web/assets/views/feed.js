// The feed and friends' activity.

import { get, query } from "../api.js";
import { h, section, when } from "../dom.js";
import { load, nameOf, personLink } from "./common.js";

const WORDS = {
  mood_recorded: "shared a mood",
  mood: "shared a mood",
  hug_sent: "sent a hug",
  streak_milestone: "reached a streak milestone",
  friendship: "made a new friend",
  friendship_accepted: "made a new friend",
};

async function activity(a) {
  const data = a.data || {};
  const detail = [data.mood, data.type_label, data.days ? `${data.days} days` : null].filter(Boolean).join(" · ");
  return h(
    "li",
    { class: "activity" },
    personLink(a.user_id, await nameOf(a.user_id)),
    ` ${WORDS[a.type] || a.type.replaceAll("_", " ")}`,
    detail ? h("span", {}, `: ${detail}`) : null,
    h("span", { class: "muted" }, ` · ${when(a.created_at)} · ${a.visibility}`),
  );
}

function list(path) {
  return async () => {
    const page = await get(`${path}${query({ limit: 30 })}`);
    if (!page.items.length) return h("p", { class: "muted" }, "Nothing here yet.");
    return h("ul", { class: "feed" }, await Promise.all(page.items.map(activity)));
  };
}

export async function feedView(main) {
  const feedBox = h("div");
  const friendsBox = h("div");
  main.append(
    h("h1", {}, "Feed"),
    section("Friends' activity", friendsBox),
    section("Everything you can see", feedBox),
    h("p", { class: "muted" }, "Share a mood from History (it must be public) to get a link anyone can open."),
  );
  load(friendsBox, list("/api/v1/social/friends-activity"));
  load(feedBox, list("/api/v1/social/feed"));
}
