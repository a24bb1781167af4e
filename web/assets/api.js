// The API client. The access token lives in this module's memory only; the refresh token is an
// HttpOnly cookie the gateway's /app/session routes read, which no script here can see.

const CLIENT = { "X-HugMood-Client": "web" };
let accessToken = null;
let refreshing = null; // the one refresh in flight, shared by every request that needs it
const listeners = { signedOut: [], offline: [], online: [] };

export const session = { user: null, profile: null };

export function on(event, fn) {
  listeners[event].push(fn);
}

function emit(event, ...args) {
  for (const fn of listeners[event]) fn(...args);
}

export class ApiError extends Error {
  constructor(status, problem = {}, offline = false) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (offline ? "offline" : `http_${status}`);
    this.errors = problem.errors || null;
    this.problem = problem;
    this.offline = offline;
  }
}

async function send(url, options) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch (err) {
    emit("offline");
    throw new ApiError(0, { detail: "You seem to be offline." }, true);
  }
  emit("online");
  return response;
}

async function read(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json().catch(() => ({})) : {};
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function adopt(body) {
  accessToken = body.access_token;
  if (body.user) session.user = body.user;
  return body;
}

// Sign in / sign up / sign out through the web app's own session routes.
export async function signIn(login, password) {
  const key = login.includes("@") ? "email" : "username";
  return adopt(await read(await send("/app/session", post({ [key]: login, password }))));
}

export async function signUp(fields) {
  return adopt(await read(await send("/app/session/register", post(fields))));
}

export async function signOut() {
  const headers = { ...CLIENT };
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  try {
    await send("/app/session", { method: "DELETE", headers });
  } finally {
    forget();
  }
}

export function forget() {
  accessToken = null;
  session.user = null;
  session.profile = null;
}

export function signedIn() {
  return accessToken !== null;
}

// Trade the cookie for a new access token; concurrent callers share one request.
export function refresh() {
  if (!refreshing) {
    refreshing = send("/app/session/refresh", { method: "POST", headers: CLIENT })
      .then(read)
      .then(adopt)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

function post(body) {
  return {
    method: "POST",
    headers: { ...CLIENT, "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  };
}

// Call the API; an expired access token is refreshed once (shared by requests in flight) and retried.
export async function api(method, path, body, { signal, raw = false } = {}) {
  const attempt = async () => {
    const headers = { Accept: "application/json" };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const options = { method, headers, signal };
    if (body !== undefined) options.body = JSON.stringify(body);
    return send(path, options);
  };
  const sentWith = accessToken;
  let response = await attempt();
  const problem = response.status === 401 ? await response.clone().json().catch(() => ({})) : {};
  if (String(problem.code || "").startsWith("auth.token_")) {
    try {
      if (accessToken === sentWith) await refresh();
    } catch (err) {
      if (!err.offline) {
        forget();
        emit("signedOut");
      }
      throw err;
    }
    response = await attempt();
  }
  return raw ? response : read(response);
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const put = (path, body) => api("PUT", path, body);
export const del = (path, body) => api("DELETE", path, body);
export const postJson = (path, body) => api("POST", path, body);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// What to tell a person when the API refuses: the problem's code says why and what to change.
const EXPLAIN = {
  offline: "You seem to be offline. HugMood will retry when you are back.",
  "auth.invalid_credentials": "That username or email and password do not match.",
  "auth.account_taken": "That username or email is already taken. Sign in, or choose another.",
  "auth.login_throttled": "Too many attempts for this account. Wait a while and try again.",
  "auth.wrong_password": "Your current password is not right.",
  "auth.invalid_reset_token": "This reset link has expired or was already used. Ask for a new one.",
  "auth.invalid_verification_token": "This verification link has expired or was already used.",
  "auth.email_already_verified": "Your email address is already verified.",
  "auth.verification_throttled": "Several verification emails were sent already. Try again in an hour.",
  "auth.token_revoked": "You were signed out. Please sign in again.",
  "web.no_session": "Please sign in.",
  "user.friend_requests_closed": "This person is not accepting friend requests.",
  "user.blocked": "You cannot do this: one of you has blocked the other.",
  "user.already_connected": "You are already friends, or a request between you is waiting.",
  "user.not_yourself": "You cannot do that to yourself.",
  "user.not_found": "That person could not be found.",
  "user.deleted": "That account has been deleted.",
  "mood.not_found": "That mood entry is gone, or not shared with you.",
  "hug.not_accepted": "This person does not accept hugs from you right now (their privacy setting).",
  "hug.to_self": "You cannot hug yourself here — but we hope you give yourself one anyway.",
  "hug.flood": "You have sent this person many hugs just now. Try again a little later.",
  "hug.request_flood": "You have asked for many hugs just now. Try again a little later.",
  "hug.group_invite_flood": "You have started many group hugs just now. Try again a little later.",
  "hug.request_answered": "That request was already answered.",
  "hug.group_already_joined": "You already joined this group hug.",
  "hug.group_expired": "This group hug is closed.",
  "hug.group_unknown_invitees": "Some of the people you invited could not be found.",
  "hug.own_request": "You cannot answer your own request.",
  "social.content_not_public":
    "Only public content can be shared. Make the mood public (edit it in History) and set " +
    "“Who sees my moods” to Everyone in Settings → Privacy.",
  "social.share_not_found": "That shared link no longer exists.",
  rate_limited: "You are going a bit fast. Wait a moment and try again.",
  "auth.revocation_unavailable": "HugMood cannot check your session right now. Try again shortly.",
};

export function explain(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (EXPLAIN[err.code]) return EXPLAIN[err.code];
  if (err.status === 422 && err.errors) {
    return Object.entries(err.errors)
      .map(([name, problems]) => `${name.replaceAll("_", " ")}: ${[].concat(problems).join(" ")}`)
      .join(" ");
  }
  if (err.status >= 500) return "This part of HugMood is unavailable right now. Try again in a moment.";
  return err.message;
}

export const CSRF_HEADER = CLIENT;
