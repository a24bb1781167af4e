// HugMood's web app: the shell (navigation, offline banner, live notifications) and the router.

import { ApiError, forget, get, on, refresh, session, signedIn, signOut } from "./api.js";
import { clear, h, toast } from "./dom.js";
import * as live from "./live.js";
import { authViews } from "./views/auth.js";
import { feedView } from "./views/feed.js";
import { friendsView, personView } from "./views/friends.js";
import { historyView } from "./views/history.js";
import { hugsView } from "./views/hugs.js";
import { insightsView } from "./views/insights.js";
import { notificationsView } from "./views/notifications.js";
import { settingsView } from "./views/settings.js";
import { todayView } from "./views/today.js";

const PUBLIC = new Set(["/signin", "/signup", "/forgot-password", "/reset-password", "/verify-email"]);

const NAV = [
  ["/today", "Today"],
  ["/history", "History"],
  ["/insights", "Insights"],
  ["/friends", "Friends"],
  ["/hugs", "Hugs"],
  ["/feed", "Feed"],
  ["/notifications", "Alerts"],
  ["/settings", "Settings"],
];

function route(path) {
  if (authViews[path]) return authViews[path];
  const person = path.match(/^\/people\/([^/]+)$/);
  if (person) return (main) => personView(main, decodeURIComponent(person[1]));
  return (
    {
      "/": todayView,
      "/today": todayView,
      "/history": historyView,
      "/insights": insightsView,
      "/friends": friendsView,
      "/hugs": hugsView,
      "/feed": feedView,
      "/notifications": notificationsView,
      "/settings": settingsView,
    }[path] || notFound
  );
}

function notFound(main) {
  main.append(h("section", { class: "card" }, h("h1", {}, "Not found"), h("p", {}, "There is no such page."),
    h("a", { href: "/today" }, "Go to Today")));
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  render();
}

let renderCount = 0;

export async function render() {
  const path = location.pathname;
  const main = document.getElementById("main");
  const mine = ++renderCount;
  if (!PUBLIC.has(path) && !signedIn()) {
    navigate(`/signin${path === "/" || path === "/signin" ? "" : `?next=${encodeURIComponent(path + location.search)}`}`, {
      replace: true,
    });
    return;
  }
  shell();
  clear(main);
  try {
    await route(path)(main, new URLSearchParams(location.search));
  } catch (err) {
    if (mine !== renderCount) return;
    main.append(h("p", { class: "error", role: "alert" }, err instanceof ApiError ? err.message : String(err)));
  }
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · HugMood` : "HugMood";
}

function shell() {
  const top = document.getElementById("top");
  clear(top);
  const brand = h("a", { href: signedIn() ? "/today" : "/signin", class: "brand" }, "HugMood");
  if (!signedIn()) {
    top.append(h("nav", { "aria-label": "Main" }, brand));
    return;
  }
  const links = NAV.map(([href, label]) => {
    const current = location.pathname === href || (href === "/today" && location.pathname === "/");
    const link = h("a", { href, "aria-current": current ? "page" : null }, label);
    if (href === "/notifications") {
      link.append(" ", live.badge());
    }
    return h("li", {}, link);
  });
  const out = h("button", { type: "button", class: "link", onclick: async () => {
    live.stop();
    await signOut().catch(() => {});
    navigate("/signin");
  } }, "Sign out");
  top.append(h("nav", { "aria-label": "Main" }, brand, h("ul", {}, links, h("li", {}, out))));
}

// ---- offline banner -------------------------------------------------------------------------------

let offlineTimer = null;

function showOffline() {
  const banner = document.getElementById("offline");
  if (!banner.hidden) return;
  clear(banner);
  banner.append(
    h("span", {}, "You are offline. HugMood keeps trying to reconnect… "),
    h("button", { type: "button", onclick: checkOnline }, "Retry now"),
  );
  banner.hidden = false;
  clearInterval(offlineTimer);
  offlineTimer = setInterval(checkOnline, 3000);
}

async function checkOnline() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    if (response.ok) backOnline();
  } catch {
    /* still offline */
  }
}

function backOnline() {
  const banner = document.getElementById("offline");
  if (banner.hidden) return;
  banner.hidden = true;
  clearInterval(offlineTimer);
  toast("Back online.");
  render();
}

on("offline", showOffline);
on("online", backOnline);
window.addEventListener("offline", showOffline);
window.addEventListener("online", checkOnline);

on("signedOut", () => {
  live.stop();
  forget();
  toast("Your session ended. Please sign in again.");
  navigate("/signin");
});

// ---- links and start --------------------------------------------------------------------------------

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || link.hasAttribute("download")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", render);

export async function startSession() {
  const me = await get("/api/v1/auth/me");
  session.user = me;
  try {
    session.profile = await get(`/api/v1/users/${me.id}`);
  } catch {
    session.profile = null; // the user service may be down: the rest still works
  }
  live.start();
}

async function boot() {
  const hasSession = document.cookie.split("; ").includes("hm_session=1");
  if (hasSession && !["/reset-password", "/verify-email"].includes(location.pathname)) {
    try {
      await refresh();
      await startSession();
    } catch (err) {
      forget();
    }
  }
  render();
}

boot();
