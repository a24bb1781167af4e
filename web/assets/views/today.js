// Today: record a mood in a few taps; the streak and today's entries.

import { get, postJson, query } from "../api.js";
import { field, h, section, toast, when } from "../dom.js";
import { MOODS, dayKey, emojiOf, load, me, percent, statusLine, submitting } from "./common.js";

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function slider(name, value) {
  return h("input", { type: "range", name, min: 0, max: 100, step: 1, value: String(value) });
}

export function moodForm({ entry = null, onSaved, recentTags = [] } = {}) {
  let chosen = entry ? entry.mood : "";
  const custom = h("input", { name: "mood", type: "text", maxlength: 50, value: entry ? entry.mood : "", placeholder: "or type your own" });
  const picker = h(
    "div",
    { class: "moods", role: "radiogroup", "aria-label": "Mood" },
    MOODS.map(([name, emoji]) => {
      const button = h(
        "button",
        { type: "button", class: "mood", role: "radio", "aria-checked": String(name === chosen), "data-mood": name },
        h("span", { "aria-hidden": "true" }, emoji),
        h("span", {}, name),
      );
      button.addEventListener("click", () => {
        chosen = name;
        custom.value = name;
        for (const b of picker.querySelectorAll("button")) b.setAttribute("aria-checked", String(b === button));
        const defaults = MOODS.find(([n]) => n === name);
        if (!entry && !useValence.checked) valence.value = String(Math.round(defaults[2] * 100));
      });
      return button;
    }),
  );
  custom.addEventListener("input", () => {
    chosen = custom.value.trim();
    for (const b of picker.querySelectorAll("button")) b.setAttribute("aria-checked", String(b.dataset.mood === chosen));
  });
  const intensity = slider("intensity", entry ? Math.round(entry.intensity * 100) : 50);
  const useValence = h("input", { type: "checkbox", name: "use_valence", checked: entry ? entry.valence !== null : false });
  const valence = slider("valence", entry && entry.valence !== null ? Math.round(entry.valence * 100) : 50);
  const arousal = slider("arousal", entry && entry.arousal !== null ? Math.round(entry.arousal * 100) : 50);
  const tags = h("input", { name: "tags", type: "text", value: entry ? entry.tags.join(", ") : "", placeholder: "work, sleep, friends" });
  const suggestions = h(
    "div",
    { class: "chips", "aria-label": "Add one of your recent tags" },
    recentTags.map((tag) =>
      h("button", {
        type: "button",
        class: "chip",
        onclick: () => {
          const list = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
          if (!list.includes(tag)) list.push(tag);
          tags.value = list.join(", ");
        },
      }, `+ ${tag}`),
    ),
  );
  const note = h("textarea", { name: "note", maxlength: 2000, rows: 3 });
  note.value = entry && entry.note ? entry.note : "";
  const isPublic = h("input", { type: "checkbox", name: "is_public", checked: entry ? entry.is_public : false });
  const at = h("input", { type: "datetime-local", name: "recorded_at", value: localInputValue(entry ? new Date(entry.recorded_at) : new Date()), max: localInputValue(new Date()) });
  const status = statusLine();
  const form = h(
    "form",
    { class: "mood-form" },
    h("fieldset", {}, h("legend", {}, "How do you feel?"), picker, field("Mood", custom)),
    field("Intensity", intensity, "How strongly, from barely to very."),
    h("details", { open: entry && entry.valence !== null ? true : null },
      h("summary", {}, "More detail (optional)"),
      h("label", { class: "check" }, useValence, " Record pleasantness and energy"),
      field("Pleasantness (valence)", valence, "Left: unpleasant, right: pleasant."),
      field("Energy (arousal)", arousal, "Left: calm, right: energised."),
    ),
    field("Tags", tags, "Separate with commas (up to 10)."),
    suggestions,
    field("Note", note),
    h("label", { class: "check" }, isPublic, " Public: friends (or everyone, per your privacy settings) may see this entry"),
    field("When", at, "Defaults to now."),
    h("button", { type: "submit", class: "primary" }, entry ? "Save changes" : "Record mood"),
    status,
  );
  submitting(form, status, async () => {
    const mood = (custom.value || chosen).trim();
    if (!mood) throw new Error("Pick a mood first.");
    const body = {
      mood,
      intensity: Number(intensity.value) / 100,
      note: note.value.trim() || null,
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      is_public: isPublic.checked,
      recorded_at: new Date(at.value).toISOString(),
    };
    if (useValence.checked) {
      body.valence = Number(valence.value) / 100;
      body.arousal = Number(arousal.value) / 100;
    } else if (entry) {
      body.valence = null;
      body.arousal = null;
    }
    const saved = entry ? await (await import("../api.js")).put(`/api/v1/moods/${entry.id}`, body) : await postJson("/api/v1/moods", body);
    if (onSaved) onSaved(saved);
    return entry ? "Saved." : `Recorded: ${saved.mood}.`;
  });
  return form;
}

export function entryItem(entry, actions = []) {
  return h(
    "li",
    { class: "entry" },
    h("span", { class: "emoji", "aria-hidden": "true" }, emojiOf(entry.mood)),
    h(
      "div",
      {},
      h("strong", {}, entry.mood),
      h("span", { class: "muted" }, ` · intensity ${percent(entry.intensity)}`, entry.valence !== null ? ` · pleasantness ${percent(entry.valence)}` : "", entry.is_public ? " · public" : " · private"),
      h("div", { class: "muted" }, when(entry.recorded_at)),
      entry.tags && entry.tags.length ? h("div", { class: "chips" }, entry.tags.map((t) => h("span", { class: "chip" }, `#${t}`))) : null,
      entry.note ? h("p", { class: "note" }, entry.note) : null,
      actions.length ? h("div", { class: "actions" }, actions) : null,
    ),
  );
}

export async function recentTags() {
  const page = await get(`/api/v1/moods/user/${me()}${query({ limit: 50 })}`);
  const counts = new Map();
  for (const entry of page.items) for (const tag of entry.tags) counts.set(tag, (counts.get(tag) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([tag]) => tag);
}

export async function todayView(main) {
  const formBox = h("div");
  const streakBox = h("div");
  const listBox = h("div");
  const name = (await import("../api.js")).session.profile?.display_name || "there";
  main.append(
    h("h1", {}, `Hi ${name}`),
    section("Record a mood", formBox),
    section("Your streak", streakBox),
    section("Today so far", listBox),
  );
  const refreshLists = () => {
    load(streakBox, async () => {
      const s = await get(`/api/v1/moods/streak/${me()}`);
      return h("p", { class: "streak" }, h("strong", {}, `🔥 ${s.current_streak} day${s.current_streak === 1 ? "" : "s"}`),
        ` in a row · longest ${s.longest_streak} · last entry ${s.last_entry_date || "none yet"}`);
    });
    load(listBox, async () => {
      // "Today" in the user's own time zone, as the API counts days.
      const since = new Date(Date.now() - 36 * 3600 * 1000).toISOString();
      const page = await get(`/api/v1/moods/user/${me()}${query({ from: since, limit: 50 })}`);
      const today = dayKey(new Date());
      const items = page.items.filter((e) => dayKey(new Date(e.recorded_at)) === today);
      if (!items.length) return h("p", { class: "muted" }, "Nothing yet today.");
      return h("ul", { class: "entries" }, items.map((e) => entryItem(e)));
    });
  };
  load(formBox, async () => {
    let tags = [];
    try {
      tags = await recentTags();
    } catch {
      tags = [];
    }
    return moodForm({
      recentTags: tags,
      onSaved: () => {
        toast("Mood recorded. Thank you for checking in.");
        refreshLists();
      },
    });
  });
  refreshLists();
}
