// History: filtered entries page by page, edit and delete; the year in pixels; charts; the streak.

import { del, explain, get, postJson, query } from "../api.js";
import { append, clear, field, h, section, svg, toast } from "../dom.js";
import { dayKey, load, me } from "./common.js";
import { entryItem, moodForm } from "./today.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export async function historyView(main) {
  const mood = h("input", { name: "mood", type: "text", maxlength: 50 });
  const tag = h("input", { name: "tag", type: "text", maxlength: 50 });
  const from = h("input", { name: "from", type: "date" });
  const to = h("input", { name: "to", type: "date" });
  const filters = h("form", { class: "filters" }, field("Mood", mood), field("Tag", tag), field("From", from), field("To", to),
    h("button", { type: "submit" }, "Filter"));
  const list = h("ul", { class: "entries" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const listBox = h("div", {}, list, more);
  const period = h("select", { name: "period" }, ["week", "month", "year", "all"].map((p) => h("option", { value: p, selected: p === "month" }, p)));
  const chartsBox = h("div");
  const yearBox = h("div");
  main.append(
    h("h1", {}, "History"),
    section("Entries", filters, listBox),
    section("Year in pixels", yearBox),
    section("Patterns", field("Period", period), chartsBox),
  );
  let cursor = null;
  const params = () => ({
    mood: mood.value.trim(),
    tag: tag.value.trim(),
    from: from.value ? new Date(`${from.value}T00:00`).toISOString() : "",
    to: to.value ? new Date(`${to.value}T23:59:59`).toISOString() : "",
  });
  const nextPage = async () => {
    const page = await get(`/api/v1/moods/user/${me()}${query({ ...params(), limit: 20, cursor })}`);
    for (const entry of page.items) list.append(row(entry));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!list.children.length) list.append(h("li", { class: "muted" }, "No entries match."));
  };
  const reload = () => {
    cursor = null;
    clear(list);
    nextPage().catch((err) => list.append(h("li", { class: "error", role: "alert" }, `⚠ ${explain(err)}`)));
  };
  const row = (entry) => {
    const item = entryItem(entry, [
      h("button", { type: "button", onclick: () => item.replaceWith(editor(entry)) }, "Edit"),
      h("button", { type: "button", onclick: () => share("mood", entry.id, item) }, "Share"),
      h("button", {
        type: "button",
        class: "danger",
        onclick: async () => {
          if (!confirm("Delete this entry?")) return;
          try {
            await del(`/api/v1/moods/${entry.id}`);
            item.remove();
            toast("Entry deleted.");
          } catch (err) {
            toast(explain(err));
          }
        },
      }, "Delete"),
    ]);
    return item;
  };
  const editor = (entry) => {
    const box = h("li", { class: "entry editing" });
    box.append(moodForm({ entry, onSaved: (saved) => box.replaceWith(row(saved)) }),
      h("button", { type: "button", onclick: () => box.replaceWith(row(entry)) }, "Cancel"));
    return box;
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  more.addEventListener("click", () => nextPage().catch((err) => toast(explain(err))));
  period.addEventListener("change", () => load(chartsBox, () => charts(period.value)));
  reload();
  load(yearBox, yearInPixels);
  load(chartsBox, () => charts(period.value));
}

// Share a mood or a hug: a link anyone can open, with a button that copies it.
export async function share(contentType, contentId, where) {
  where.querySelector(".share, .share-error")?.remove();
  try {
    const shared = await postJson("/api/v1/social/share", { content_type: contentType, content_id: contentId, platform: "link" });
    const link = h("input", { type: "text", readonly: true, value: shared.share_url, "aria-label": "Share link" });
    const copy = h("button", { type: "button", onclick: async () => {
      try {
        await navigator.clipboard.writeText(shared.share_url);
        toast("Link copied.");
      } catch {
        link.select();
        toast("Select the link and copy it.");
      }
    } }, "Copy link");
    where.append(h("div", { class: "share" }, link, copy));
  } catch (err) {
    where.append(h("p", { class: "error share-error", role: "alert" }, `⚠ ${explain(err)}`));
  }
}

function color(valence) {
  if (valence === null || valence === undefined) return "var(--none)";
  const hue = Math.round(10 + valence * 110); // red (unpleasant) to green (pleasant)
  return `hsl(${hue} 65% 55%)`;
}

async function yearInPixels() {
  const analytics = await get(`/api/v1/moods/analytics/${me()}${query({ period: "year" })}`);
  const byDay = new Map(analytics.per_day.map((d) => [d.date, d]));
  const size = 11;
  // Days as the API counts them, in the user's time zone: step a UTC calendar back from today there.
  const today = new Date(`${dayKey(new Date(), analytics.timezone)}T00:00:00Z`);
  const start = new Date(today);
  start.setUTCDate(start.getUTCDate() - 364 - ((start.getUTCDay() + 6) % 7));
  const cells = [];
  const cursor = new Date(start);
  let column = 0;
  while (cursor <= today) {
    const key = cursor.toISOString().slice(0, 10);
    const row = (cursor.getUTCDay() + 6) % 7;
    const day = byDay.get(key);
    const title = day ? `${key}: ${day.count} entr${day.count === 1 ? "y" : "ies"}, pleasantness ${day.average_valence === null ? "not recorded" : Math.round(day.average_valence * 100) + " %"}` : `${key}: no entry`;
    cells.push(svg("rect", { x: column * (size + 2), y: row * (size + 2), width: size, height: size, rx: 2, fill: day ? color(day.average_valence) : "var(--empty)", "data-date": key }, svg("title", {}, title)));
    if (row === 6) column += 1;
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  const days = analytics.per_day.length;
  const scroller = h("div", { class: "scroll", tabindex: "0", "aria-label": "Year in pixels, newest days on the right" });
  requestAnimationFrame(() => {
    scroller.scrollLeft = scroller.scrollWidth; // today in view
  });
  return h(
    "div",
    {},
    append(scroller, [svg("svg", { width: (column + 1) * (size + 2), height: 7 * (size + 2), role: "img", "aria-label": `Year in pixels: ${days} days with entries` }, cells)]),
    h("p", { class: "muted" }, `${days} day${days === 1 ? "" : "s"} with entries in the last year (days in ${analytics.timezone}). Colour shows pleasantness, red low to green high; hover or focus a day for its numbers; grey: no entry.`),
  );
}

function bars(items, { label, value, max = 1, unit = "%", title }) {
  const width = 320;
  const rowHeight = 22;
  const height = items.length * rowHeight + 4;
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title },
    svg("title", {}, title),
    items.map((item, i) => {
      const v = value(item);
      const w = v === null || v === undefined ? 0 : Math.max(1, (v / max) * (width - 130));
      const text = v === null || v === undefined ? "–" : unit === "%" ? `${Math.round(v * 100)} %` : String(v);
      return svg(
        "g",
        { transform: `translate(0 ${i * rowHeight})` },
        svg("text", { x: 0, y: 15, class: "axis" }, label(item)),
        svg("rect", { x: 70, y: 4, width: w, height: 14, rx: 3, class: "bar" }),
        svg("text", { x: 75 + w, y: 15, class: "value" }, text),
      );
    }),
  );
}

function line(points, title) {
  const width = 320;
  const height = 120;
  const valued = points.filter((p) => p.average_valence !== null);
  if (valued.length < 2) return h("p", { class: "muted" }, "Not enough days with pleasantness recorded for a line yet.");
  const x = (i) => 10 + (i / (valued.length - 1)) * (width - 20);
  const y = (v) => height - 10 - v * (height - 20);
  const path = valued.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)} ${y(p.average_valence).toFixed(1)}`).join(" ");
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title },
    svg("title", {}, title),
    svg("line", { x1: 10, x2: width - 10, y1: y(0.5), y2: y(0.5), class: "mid" }),
    svg("path", { d: path, class: "line" }),
    valued.map((p, i) => svg("circle", { cx: x(i), cy: y(p.average_valence), r: 3, class: "dot" }, svg("title", {}, `${p.date}: ${Math.round(p.average_valence * 100)} %`))),
    svg("text", { x: 10, y: 12, class: "axis" }, "pleasant"),
    svg("text", { x: 10, y: height - 1, class: "axis" }, "unpleasant"),
  );
}

async function charts(period) {
  const a = await get(`/api/v1/moods/analytics/${me()}${query({ period })}`);
  if (!a.count) return h("p", { class: "muted" }, "No entries in this period yet. Record a mood to see your patterns.");
  const distribution = Object.entries(a.distribution).map(([mood, n]) => ({ mood, n }));
  const maxN = Math.max(...distribution.map((d) => d.n));
  const trend = a.valence_trend ? a.valence_trend.direction : "flat";
  return h(
    "div",
    { class: "charts" },
    h("p", {}, `${a.count} entries · most often ${a.dominant_mood} · average pleasantness ${a.average_valence === null ? "–" : Math.round(a.average_valence * 100) + " %"} · trend: ${trend}`),
    h("h3", {}, "Pleasantness per day"),
    line(a.per_day, "Average pleasantness per day"),
    h("h3", {}, "Moods"),
    bars(distribution, { label: (d) => d.mood.slice(0, 10), value: (d) => d.n, max: maxN, unit: "n", title: "How often each mood was recorded" }),
    h("h3", {}, "By weekday"),
    bars(WEEKDAYS.map((name, i) => a.by_weekday.find((w) => w.weekday === i + 1) || { weekday: i + 1, average_valence: null }), {
      label: (w) => WEEKDAYS[w.weekday - 1], value: (w) => w.average_valence, title: "Average pleasantness by weekday" }),
    h("h3", {}, "By hour"),
    bars(a.by_hour, { label: (b) => `${String(b.hour).padStart(2, "0")}:00`, value: (b) => b.average_valence, title: "Average pleasantness by hour of the day" }),
    a.top_tags.length ? h("p", {}, "Top tags: ", a.top_tags.map((t) => `#${t.tag} (${t.count})`).join(", ")) : null,
  );
}
