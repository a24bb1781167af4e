// Settings: profile, privacy (each choice said in plain words), notifications and quiet hours,
// password, data export, account deletion.

import { api, del, get, put, session, signOut } from "../api.js";
import { navigate } from "../app.js";
import { field, h, section } from "../dom.js";
import * as live from "../live.js";
import { load, me, statusLine, submitting } from "./common.js";

const PRIVACY = {
  share_moods_with: {
    label: "Who sees my moods",
    options: {
      public: "Everyone signed in to HugMood may see the entries you mark public, and you can share them by link.",
      friends: "Only your friends see the entries you mark public. Share links stop working.",
      none: "Nobody sees your moods, even entries marked public. Share links stop working.",
    },
  },
  allow_hugs_from: {
    label: "Who may hug me",
    options: {
      anyone: "Anyone on HugMood may send you a hug (unless you blocked them).",
      friends: "Only your friends may send you hugs.",
      none: "Nobody can send you hugs for now.",
    },
  },
};

const TOGGLES = {
  allow_friend_requests: ["Let people send me friend requests", "People can ask to be your friend.", "Nobody can send you a friend request."],
  show_online_status: ["Show when I was last active", "Others see when you were last active.", "Nobody sees when you were last active."],
};

const TYPES = {
  hug_received: "A hug for me",
  hug_request: "Someone asks me for a hug",
  group_hug_invite: "An invitation to a group hug",
  friend_request: "A friend request",
  friend_accepted: "A friend request accepted",
  streak_milestone: "A streak milestone",
  password_reset: "Password reset emails",
};

function profileForm(p) {
  const display = h("input", { name: "display_name", type: "text", maxlength: 100, value: p.display_name || "" });
  const bio = h("textarea", { name: "bio", maxlength: 500, rows: 3 });
  bio.value = p.bio || "";
  const location = h("input", { name: "location", type: "text", maxlength: 100, value: p.location || "" });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [p.timezone];
  if (!zones.includes(p.timezone)) zones.unshift(p.timezone);
  const tz = h("select", { name: "timezone" }, zones.map((z) => h("option", { value: z, selected: z === p.timezone }, z)));
  const status = statusLine();
  const form = h("form", {}, field("Display name", display), field("About me", bio, "Up to 500 characters."), field("Location", location),
    field("Time zone", tz, `Your days, streaks and charts follow this zone. This browser is in ${Intl.DateTimeFormat().resolvedOptions().timeZone}.`),
    h("button", { type: "submit", class: "primary" }, "Save profile"), status);
  submitting(form, status, async () => {
    session.profile = await put(`/api/v1/users/${me()}`, {
      display_name: display.value.trim() || p.username, bio: bio.value.trim() || null, location: location.value.trim() || null, timezone: tz.value,
    });
    return "Profile saved.";
  });
  return form;
}

function privacyForm(settings) {
  const controls = {};
  const parts = [];
  for (const [key, spec] of Object.entries(PRIVACY)) {
    const effect = h("small", { class: "effect", "aria-live": "polite" }, spec.options[settings[key]]);
    const select = h("select", { name: key, onchange: () => { effect.textContent = spec.options[select.value]; } },
      Object.keys(spec.options).map((v) => h("option", { value: v, selected: v === settings[key] }, v)));
    controls[key] = select;
    parts.push(h("div", { class: "field" }, h("label", { for: `p-${key}` }, spec.label), select, effect));
    select.id = `p-${key}`;
    select.setAttribute("aria-describedby", `p-${key}-effect`);
    effect.id = `p-${key}-effect`;
  }
  for (const [key, [label, on, off]] of Object.entries(TOGGLES)) {
    const effect = h("small", { class: "effect", id: `p-${key}-effect` }, settings[key] ? on : off);
    const box = h("input", { type: "checkbox", name: key, checked: settings[key], "aria-describedby": effect.id, onchange: () => { effect.textContent = box.checked ? on : off; } });
    controls[key] = box;
    parts.push(h("div", { class: "field" }, h("label", { class: "check" }, box, ` ${label}`), effect));
  }
  const status = statusLine();
  const form = h("form", {}, parts, h("button", { type: "submit", class: "primary" }, "Save privacy"), status);
  submitting(form, status, async () => {
    await put(`/api/v1/users/${me()}/privacy`, {
      share_moods_with: controls.share_moods_with.value,
      allow_hugs_from: controls.allow_hugs_from.value,
      allow_friend_requests: controls.allow_friend_requests.checked,
      show_online_status: controls.show_online_status.checked,
    });
    return "Privacy saved.";
  });
  return form;
}

function preferencesForm(prefs) {
  const rows = Object.entries(prefs.types || {}).map(([type, channels]) =>
    h("tr", {}, h("th", { scope: "row" }, TYPES[type] || type),
      ["in_app", "push", "email"].map((channel) => h("td", {}, h("input", {
        type: "checkbox", "data-type": type, "data-channel": channel, checked: Boolean(channels[channel]),
        "aria-label": `${TYPES[type] || type}: ${channel.replace("_", "-")}`,
      })))));
  const quiet = Boolean(prefs.quiet_hours);
  const useQuiet = h("input", { type: "checkbox", name: "quiet", checked: quiet });
  const start = h("input", { type: "time", name: "quiet_start", value: quiet ? prefs.quiet_hours.start : "22:00" });
  const end = h("input", { type: "time", name: "quiet_end", value: quiet ? prefs.quiet_hours.end : "07:00" });
  const status = statusLine();
  const form = h("form", {},
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "In app"), h("th", {}, "Push"), h("th", {}, "Email"))), h("tbody", {}, rows))),
    h("label", { class: "check" }, useQuiet, " Quiet hours: hold back push notifications (in-app ones are still kept; email is not held)"),
    h("div", { class: "row" }, field("From", start), field("Until", end)),
    h("button", { type: "submit", class: "primary" }, "Save notification settings"), status);
  submitting(form, status, async () => {
    const types = {};
    for (const box of form.querySelectorAll("input[data-type]")) {
      types[box.dataset.type] = types[box.dataset.type] || {};
      types[box.dataset.type][box.dataset.channel] = box.checked;
    }
    await put("/api/v1/notifications/preferences", { types, quiet_hours: useQuiet.checked ? { start: start.value, end: end.value } : null });
    return "Notification settings saved.";
  });
  return form;
}

function passwordForm() {
  const current = h("input", { type: "password", name: "current_password", required: true, autocomplete: "current-password" });
  const next = h("input", { type: "password", name: "new_password", required: true, minlength: 8, autocomplete: "new-password" });
  const status = statusLine();
  const form = h("form", {}, field("Current password", current), field("New password", next, "Other devices will be signed out."),
    h("button", { type: "submit", class: "primary" }, "Change password"), status);
  submitting(form, status, async () => {
    await put("/api/v1/auth/password", { current_password: current.value, new_password: next.value });
    current.value = "";
    next.value = "";
    return "Password changed. Your other sessions were signed out.";
  });
  return form;
}

function exportButton() {
  const status = statusLine();
  const button = h("button", { type: "button" }, "Download my data");
  button.addEventListener("click", async () => {
    status.textContent = "Preparing…";
    try {
      const response = await api("GET", "/api/v1/account/export", undefined, { raw: true });
      if (!response.ok) throw new Error(`The export failed (${response.status}). Try again in a moment.`);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `hugmood-export-${new Date().toISOString().slice(0, 10)}.json` }, "download");
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status.textContent = "Your data was downloaded as a JSON file.";
    } catch (err) {
      status.textContent = `⚠ ${err.message}`;
    }
  });
  return h("div", {}, h("p", {}, "Everything HugMood holds about you, in one JSON file."), button, status);
}

function deleteForm() {
  const password = h("input", { type: "password", name: "delete_password", required: true, autocomplete: "current-password" });
  const status = statusLine();
  const form = h("form", {}, h("p", {}, "This deletes your account and everything in it — moods, hugs, friends — for good."),
    field("Your password, to confirm", password), h("button", { type: "submit", class: "danger" }, "Delete my account"), status);
  submitting(form, status, async () => {
    await del("/api/v1/auth/account", { password: password.value });
    live.stop();
    await signOut().catch(() => {});
    navigate("/signin");
    return "Your account was deleted.";
  });
  return form;
}

export async function settingsView(main) {
  const profileBox = h("div");
  const privacyBox = h("div");
  const prefsBox = h("div", { id: "notifications" });
  main.append(
    h("h1", {}, "Settings"),
    section("Profile", profileBox),
    section("Privacy", privacyBox),
    section("Notifications", prefsBox),
    section("Password", passwordForm()),
    section("Your data", exportButton()),
    section("Delete account", deleteForm()),
  );
  load(profileBox, async () => profileForm(await get(`/api/v1/users/${me()}`)));
  load(privacyBox, async () => privacyForm(await get(`/api/v1/users/${me()}/privacy`)));
  load(prefsBox, async () => preferencesForm(await get("/api/v1/notifications/preferences")));
}
