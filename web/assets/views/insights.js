// Insights: what the user's own entries suggest, in plain words. Findings of what tends to go
// together, never a diagnosis; sample sizes and intervals are said, and thin data says so.

import { explain, get, put, query } from "../api.js";
import { field, h, section, toast, when } from "../dom.js";
import { load, me } from "./common.js";

const PERIODS = [
  ["month", "the last month"],
  ["quarter", "the last three months"],
  ["year", "the last year"],
  ["all", "all time"],
];
const CAVEAT = "These show what tends to go together on your days, not what causes what.";

export async function insightsView(main) {
  const insightsBox = h("div");
  const findingsBox = h("div");
  const rhythmBox = h("div");
  const readingBox = h("div");
  const period = h("select", { name: "period" }, PERIODS.map(([value, label]) => h("option", { value, selected: value === "quarter" }, label)));
  main.append(
    h("h1", {}, "Insights"),
    h("p", { class: "muted" }, "Drawn from your own check-ins. The more often you record a mood, the more there is to notice."),
    section("What we noticed", insightsBox),
    section("What goes with your days", field("Looking at", period), findingsBox),
    section("Your rhythms", rhythmBox),
    section("Something that might help", readingBox),
  );
  load(insightsBox, insightList);
  const byPeriod = () => {
    load(findingsBox, () => findings(period.value));
    load(rhythmBox, () => rhythms(period.value));
  };
  period.addEventListener("change", byPeriod);
  byPeriod();
  load(readingBox, recommendations);
}

async function insightList() {
  const list = h("ul", { class: "insights" });
  const more = h("button", { type: "button", hidden: true }, "More insights");
  let cursor = null;
  const nextPage = async () => {
    const page = await get(`/api/v1/analytics/insights/me${query({ limit: 10, cursor })}`);
    list.append(...page.items.map(insightRow));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => nextPage().catch((err) => toast(`⚠ ${explain(err)}`)));
  await nextPage();
  if (!list.children.length) {
    return h("p", { class: "muted empty" },
      "Nothing to share yet. Once you have checked in on a good number of days, what we notice will show up here.");
  }
  return h("div", {}, list, more);
}

function insightRow(insight) {
  const unread = !insight.is_read;
  const item = h("li", { class: unread ? "insight unread" : "insight" },
    unread ? h("span", { class: "tag-new" }, "NEW") : null,
    h("strong", {}, insight.title),
    h("p", {}, insight.description),
    h("p", { class: "muted" }, `Noticed ${when(insight.created_at)}`));
  if (unread) {
    item.append(h("button", { type: "button", onclick: async (event) => {
      try {
        await put(`/api/v1/analytics/insights/${insight.id}/read`);
        item.classList.remove("unread");
        item.querySelector(".tag-new")?.remove();
        event.target.replaceWith(h("span", { class: "muted" }, "Seen ✓"));
      } catch (err) {
        toast(`⚠ ${explain(err)}`);
      }
    } }, "Mark as seen"));
  }
  return item;
}

// "tag:walk" → "days tagged “walk”", and so on for each kind of factor the API names.
export function factorName(factor) {
  const [kind, ...rest] = factor.split(":");
  const name = rest.join(":");
  if (kind === "tag") return `Days tagged “${name}”`;
  if (kind === "weekday") return `${name.charAt(0).toUpperCase()}${name.slice(1)}s`;
  if (kind === "part_of_day") return `Days with a check-in ${name === "night" ? "at night" : `in the ${name}`}`;
  if (factor === "hug:received") return "Days you received a hug";
  if (factor === "hug:sent") return "Days you sent a hug";
  return factor;
}

// Valence (0 to 1) as points out of 100; a difference carries its sign.
const score = (value) => `${Math.round(value * 100)}`;
const points = (value) => `${value > 0 ? "+" : value < 0 ? "−" : ""}${Math.abs(Math.round(value * 100))}`;

function sizes(size) {
  return `${size.with} ${size.with === 1 ? "day" : "days"} with it, ${size.without} without`;
}

async function findings(period) {
  const result = await get(`/api/v1/analytics/correlations/me${query({ period })}`);
  if (!result.factors.length && !result.insufficient_data.length) {
    return h("p", { class: "muted empty" }, "Not enough data yet. Record your mood on a few more days and come back.");
  }
  const rows = result.factors.map((f) => {
    const lighter = f.effect > 0;
    const [low, high] = f.ci95 || [null, null];
    return h("li", { class: "finding" },
      h("strong", {}, factorName(f.factor)),
      ` felt ${lighter ? "lighter" : "heavier"} on average: ${score(f.mean_with)} against ${score(f.mean_without)} out of 100`,
      ` (a difference of ${points(f.effect)}`,
      low === null ? ")" : `, likely somewhere between ${points(low)} and ${points(high)})`,
      h("p", { class: "muted" }, `${sizes(f.sample_size)}. `,
        f.significant ? "This one stands out clearly." : "This could still be chance."));
  });
  const thin = result.insufficient_data.map((f) => h("li", { class: "finding thin" },
    h("strong", {}, factorName(f.factor)), ": not enough data yet ", h("span", { class: "muted" }, `(${sizes(f.sample_size)})`)));
  return h("div", {},
    rows.length ? h("ul", { class: "findings" }, rows) : h("p", { class: "muted" }, "Nothing stands out yet for this stretch of time."),
    thin.length ? h("details", {}, h("summary", {}, `Still gathering (${thin.length})`), h("ul", { class: "findings" }, thin)) : null,
    h("p", { class: "muted" }, `Over ${result.days} ${result.days === 1 ? "day" : "days"} with a check-in. ${CAVEAT}`));
}

async function rhythms(period) {
  const p = await get(`/api/v1/analytics/patterns/me${query({ period })}`);
  if (!p.days) return h("p", { class: "muted empty" }, "Not enough data yet. Your rhythms appear after a few check-ins.");
  const lines = [];
  const day = (name) => `${name.charAt(0).toUpperCase()}${name.slice(1)}s`;
  if (p.best_weekday && p.worst_weekday) {
    lines.push(`${day(p.best_weekday)} have tended to be your brightest days, ${day(p.worst_weekday)} the hardest.`);
  }
  const trend = p.trend && p.trend.direction;
  if (trend === "improving") lines.push("Week by week, your days have been getting a little lighter.");
  else if (trend === "declining") lines.push("Week by week, your days have been a little heavier lately. Be gentle with yourself, and reach out if you would like company.");
  else if (trend === "steady") lines.push("Week by week, your days have held fairly steady.");
  const spells = p.low_spells ? p.low_spells.count : 0;
  if (spells) lines.push(`There ${spells === 1 ? "was one stretch" : `were ${spells} stretches`} of several lower days in a row; they passed.`);
  if (!lines.length) lines.push("Nothing stands out yet; more check-ins will tell more.");
  return h("div", {}, lines.map((line) => h("p", {}, line)),
    h("p", { class: "muted" }, `From ${p.entries} ${p.entries === 1 ? "check-in" : "check-ins"} on ${p.days} ${p.days === 1 ? "day" : "days"}.`));
}

async function recommendations() {
  const page = await get(`/api/v1/analytics/recommendations/${me()}${query({ limit: 5 })}`);
  if (!page.items.length) return h("p", { class: "muted empty" }, "Nothing to suggest yet. Suggestions follow the moods you record.");
  return h("ul", { class: "recommendations" }, page.items.map((item) => h("li", {},
    h("strong", {}, item.title), h("span", { class: "muted" }, ` · ${item.type}`),
    item.summary ? h("p", {}, item.summary) : null,
    item.reason ? h("p", { class: "muted" }, item.reason) : null)));
}
