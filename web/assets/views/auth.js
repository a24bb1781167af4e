// Signing up and in, forgetting and resetting a password, verifying an email address.

import { postJson, signIn, signUp } from "../api.js";
import { navigate, startSession } from "../app.js";
import { field, h } from "../dom.js";
import { statusLine, submitting } from "./common.js";

function input(name, type = "text", attrs = {}) {
  return h("input", { name, type, required: true, ...attrs });
}

function page(main, title, intro, form, ...after) {
  main.append(h("section", { class: "card narrow" }, h("h1", {}, title), intro ? h("p", {}, intro) : null, form, ...after));
}

function nextPath() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/today";
}

function signinView(main) {
  const login = input("login", "text", { autocomplete: "username" });
  const password = input("password", "password", { autocomplete: "current-password" });
  const status = statusLine();
  const form = h(
    "form",
    {},
    field("Username or email", login),
    field("Password", password),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    status,
  );
  submitting(form, status, async () => {
    await signIn(login.value.trim(), password.value);
    await startSession();
    navigate(nextPath());
    return "Signed in.";
  });
  page(
    main,
    "Sign in",
    "Welcome back. How are you feeling today?",
    form,
    h("p", {}, h("a", { href: "/forgot-password" }, "Forgot your password?")),
    h("p", {}, "New here? ", h("a", { href: "/signup" }, "Create an account")),
  );
  login.focus();
}

function signupView(main) {
  const username = input("username", "text", { autocomplete: "username", minlength: 3, maxlength: 30, pattern: "[A-Za-z0-9_]+" });
  const email = input("email", "email", { autocomplete: "email" });
  const display = h("input", { name: "display_name", type: "text", maxlength: 100, autocomplete: "name" });
  const password = input("password", "password", { autocomplete: "new-password", minlength: 8, maxlength: 128 });
  const status = statusLine();
  const form = h(
    "form",
    {},
    field("Username", username, "3 to 30 letters, digits or _"),
    field("Email", email, "We send a link to verify it."),
    field("Display name (optional)", display),
    field("Password", password, "At least 8 characters; a few words you remember work well."),
    h("button", { type: "submit", class: "primary" }, "Create account"),
    status,
  );
  submitting(form, status, async () => {
    const body = { username: username.value.trim(), email: email.value.trim(), password: password.value };
    if (display.value.trim()) body.display_name = display.value.trim();
    await signUp(body);
    await startSession();
    navigate("/today");
    return "Welcome to HugMood.";
  });
  page(main, "Create your account", null, form, h("p", {}, "Have an account? ", h("a", { href: "/signin" }, "Sign in")));
  username.focus();
}

function forgotView(main) {
  const email = input("email", "email", { autocomplete: "email" });
  const status = statusLine();
  const form = h("form", {}, field("Your email", email), h("button", { type: "submit", class: "primary" }, "Send reset link"), status);
  submitting(form, status, async () => {
    await postJson("/api/v1/auth/password/reset", { email: email.value.trim() });
    return "If an account has this address, an email with a reset link is on its way. The link works for one hour.";
  });
  page(main, "Forgot your password?", "We will email you a link to choose a new one.", form, h("p", {}, h("a", { href: "/signin" }, "Back to sign in")));
}

function takeToken() {
  // Read the token, then drop it from the address bar (and from history).
  const token = new URLSearchParams(location.search).get("token") || "";
  history.replaceState({}, "", location.pathname);
  return token;
}

function resetView(main) {
  const token = takeToken() || resetView.token || "";
  resetView.token = token;
  const password = input("password", "password", { autocomplete: "new-password", minlength: 8, maxlength: 128 });
  const again = input("password_again", "password", { autocomplete: "new-password" });
  const status = statusLine();
  const form = h(
    "form",
    {},
    field("New password", password, "At least 8 characters."),
    field("New password again", again),
    h("button", { type: "submit", class: "primary" }, "Set new password"),
    status,
  );
  submitting(form, status, async () => {
    if (!token) throw new Error("This page needs the link from your email. Ask for a new one.");
    if (password.value !== again.value) throw new Error("The two passwords differ.");
    await postJson("/api/v1/auth/password/reset/confirm", { token, password: password.value });
    resetView.token = "";
    form.replaceChildren(
      h("p", { class: "status ok", role: "status" }, "Your password is changed. Every other session was signed out."),
      h("a", { href: "/signin", class: "button primary" }, "Sign in"),
    );
    return "";
  });
  page(main, "Choose a new password", null, form);
}

async function verifyView(main) {
  const token = takeToken();
  const status = h("p", { role: "status", class: "status" }, "Verifying your email address…");
  page(main, "Verify your email", null, status, h("p", {}, h("a", { href: "/today" }, "Go to HugMood")));
  if (!token) {
    status.textContent = "This page needs the link from your email.";
    return;
  }
  try {
    await postJson("/api/v1/auth/email/verify", { token });
    status.textContent = "Thank you: your email address is verified.";
    status.className = "status ok";
  } catch (err) {
    const { explain } = await import("../api.js");
    status.textContent = `⚠ ${explain(err)}`;
    status.className = "status error";
  }
}

export const authViews = {
  "/signin": signinView,
  "/signup": signupView,
  "/forgot-password": forgotView,
  "/reset-password": resetView,
  "/verify-email": verifyView,
};
