"""The HugMood web app, served by the gateway from the top-level `web/` folder, same origin as the API.

- `GET /` and the app's own paths (`/today`, `/reset-password`, `/people/<id>`, ...): `web/index.html`;
  the app's router picks the screen from the path.
- `GET /assets/<name>`: the app's modules, style sheet and images, read once at start-up, with
  their content type, an ETag and `Cache-Control: no-cache` (revalidated, 304 when unchanged).
- The web app's session routes keep the refresh token where no script can read it: an
  `HttpOnly; SameSite=Strict` cookie (`Secure` over https), sent only to `/app/session`:
  `POST /app/session` signs in, `POST /app/session/register` signs up, `POST /app/session/refresh`
  trades the cookie for a new access token (and a new cookie), `DELETE /app/session` signs out.
  The access token itself lives in the page's memory only. Every session route asks for the
  header `X-HugMood-Client: web` (a cross-site form cannot send it, and a cross-site script
  cannot without a CORS preflight the gateway never grants) and refuses an `Origin` or
  `Sec-Fetch-Site` that is not this site: CSRF protection for the cookie-authenticated route.
- A `share_url` opened by a browser (`Accept` preferring `text/html`) gets a small public page
  (`shared_page`); any other client gets the social service's JSON.

Every page and asset carries a strict Content-Security-Policy (scripts and styles from this origin
only: no inline script, no eval; `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff` and
`Referrer-Policy: no-referrer` (a reset link's token never leaves in a Referer).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request

from gateway.proxy import Forwarded, forward
from gateway.web import GatewayRequest, GatewayResponse
from shared.app import check_json_body
from shared.errors import (
    PROBLEM_JSON,
    Forbidden,
    NotFound,
    ProblemError,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
    problem_body,
)
from shared.problems import page

if TYPE_CHECKING:
    from gateway.app import Gateway

# Codes the web app's session routes raise with `code=` (their pages, at /api/v1/problems/{code}).
PROBLEM_PAGES = (
    page(
        "web.csrf",
        Forbidden,
        "A session route of the web app was called without the web app's header, or from another site "
        "(its Origin or Sec-Fetch-Site names one): the cookie routes answer the same-origin app only.",
        "Call these routes from the HugMood web app itself; other clients use the API's token routes.",
    ),
    page(
        "web.no_session",
        Unauthorized,
        "The browser holds no web-app session to refresh (no refresh cookie, or an expired one).",
        "Sign in again.",
    ),
)

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"
ASSETS = "/assets/"
SESSION = "/app/session"
CLIENT_HEADER = "X-HugMood-Client"
REFRESH_COOKIE = "hm_refresh"
DEVICE_COOKIE = "hm_device"
# Holds no secret: it only tells the app's script that a refresh cookie is there to try, so a
# first visit does not ask for a refresh bound to fail.
MARKER_COOKIE = "hm_session"
REFRESH_COOKIE_SECONDS = 30 * 24 * 3600
DEVICE_COOKIE_SECONDS = 90 * 24 * 3600

# The paths the app's router owns; each is answered with index.html.
PAGES = (
    "today",
    "history",
    "insights",
    "friends",
    "hugs",
    "notifications",
    "feed",
    "settings",
    "signin",
    "signup",
    "forgot-password",
    "reset-password",
    "verify-email",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

webapp = Blueprint("webapp", __name__)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(root: Path = WEB_ROOT) -> dict[str, Asset]:
    """Every servable file under `root`, by its path relative to it (only known types).

    Read once: an asset request is a dictionary lookup, so no request path ever reaches the file
    system (no traversal to guard against)."""
    assets = {}
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            content_type = CONTENT_TYPES.get(path.suffix)
            if path.is_file() and content_type:
                body = path.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                assets[path.relative_to(root).as_posix()] = Asset(body, content_type, etag)
    return assets


_assets: dict[str, Asset] | None = None


def assets() -> dict[str, Asset]:
    global _assets
    if _assets is None:
        _assets = load_assets()
    return _assets


def _asset_answer(name: str) -> GatewayResponse:
    asset = assets().get(name)
    if asset is None:
        raise NotFound("No such file in the web app.")
    headers = [("ETag", asset.etag), ("Cache-Control", "no-cache"), *SECURITY_HEADERS]
    if asset.etag in _etags(request.headers.get("If-None-Match", "")):
        return GatewayResponse([], 304, headers)
    headers += [("Content-Type", asset.content_type), ("Content-Length", str(len(asset.body)))]
    return GatewayResponse([asset.body], 200, headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@webapp.get("/")
def index() -> GatewayResponse:
    return _asset_answer("index.html")


@webapp.get("/<any(" + ", ".join(repr(p) for p in PAGES) + "):page>")
def page(page: str) -> GatewayResponse:
    return _asset_answer("index.html")


@webapp.get("/people/<user_id>")
def person(user_id: str) -> GatewayResponse:
    return _asset_answer("index.html")


@webapp.get(ASSETS + "<path:name>")
def asset(name: str) -> GatewayResponse:
    return _asset_answer("assets/" + name)


# ---- the session routes -------------------------------------------------------------------------


@webapp.post(SESSION)
def sign_in() -> GatewayResponse:
    return _Session.current().open("/api/v1/auth/login")


@webapp.post(SESSION + "/register")
def sign_up() -> GatewayResponse:
    return _Session.current().open("/api/v1/auth/register")


@webapp.post(SESSION + "/refresh")
def refresh() -> GatewayResponse:
    return _Session.current().refresh()


@webapp.delete(SESSION)
def sign_out() -> GatewayResponse:
    return _Session.current().close()


class _Session:
    """One request to a session route, checked against cross-site use before anything is done."""

    def __init__(self, gateway: Gateway, req: GatewayRequest):
        self.gateway = gateway
        self.req = req
        self.client_ip = gateway.client_ip(req)
        self.cookies = SimpleCookie()
        try:
            self.cookies.load(req.environ.get("HTTP_COOKIE", ""))
        except Exception:  # a malformed Cookie header is read as no cookies
            self.cookies = SimpleCookie()
        self.secure = req.environ.get("wsgi.url_scheme") == "https" or (
            req.environ.get("HTTP_X_FORWARDED_PROTO", "").lower() == "https"
        )
        self.set_cookies: list[str] = []

    @classmethod
    def current(cls) -> _Session:
        session = cls(current_app, request._get_current_object())  # type: ignore[arg-type, attr-defined]
        session.check_same_site()
        return session

    def check_same_site(self) -> None:
        env = self.req.environ
        if env.get("HTTP_X_HUGMOOD_CLIENT") != "web":
            raise Forbidden(f"This route is for the HugMood web app ({CLIENT_HEADER}: web).", code="web.csrf")
        origin = env.get("HTTP_ORIGIN")
        if origin is not None and origin != self.origin():
            raise Forbidden("Requests from another site are refused.", code="web.csrf")
        site = env.get("HTTP_SEC_FETCH_SITE")
        if site is not None and site not in ("same-origin", "none"):
            raise Forbidden("Requests from another site are refused.", code="web.csrf")

    def origin(self) -> str:
        env = self.req.environ
        scheme = "https" if self.secure else env.get("wsgi.url_scheme", "http")
        return f"{scheme}://{env.get('HTTP_HOST', '')}"

    def cookie(self, name: str) -> str | None:
        morsel = self.cookies.get(name)
        return morsel.value if morsel is not None and morsel.value else None

    def body(self) -> dict[str, Any]:
        req = self.req
        data = req.body(self.gateway.settings.GATEWAY_BODY_TIMEOUT_SECONDS)
        check_json_body("POST", req.environ.get("CONTENT_TYPE"), req.body_length(), lambda: data)
        try:
            document = json.loads(data) if data else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ValidationFailed("The body must be a JSON object.", errors={"body": ["Must be a JSON object."]})
        return document

    def limit(self, key: tuple[str, str]) -> None:
        """The strict per-IP bucket the API route behind this one has (login, register)."""
        verdict = self.gateway.limit(key, self.client_ip, None)
        if not verdict.allowed:
            raise TooManyRequests("Too many requests; slow down.", headers={"Retry-After": str(max(verdict.reset, 1))})

    def call(self, path: str, payload: dict[str, Any] | None, authorization: str | None = None) -> tuple[int, Any]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Request-ID": self.req.request_id,
            "X-Forwarded-For": self.client_ip,
            "X-Real-IP": self.client_ip,
            "X-Forwarded-Proto": "https" if self.secure else "http",
        }
        if user_agent := self.req.environ.get("HTTP_USER_AGENT"):
            headers["User-Agent"] = user_agent
        if authorization:
            headers["Authorization"] = authorization
        body = json.dumps(payload).encode() if payload is not None else None
        answer: Forwarded = forward(self.gateway.upstreams["auth"], "POST", path, headers, body)
        data = b"".join(answer)
        try:
            return answer.status, json.loads(data) if data else None
        except ValueError:
            return answer.status, None

    # ---- the routes ---------------------------------------------------------------------------

    def open(self, path: str) -> GatewayResponse:
        self.limit(("POST", path))
        payload = self.body()
        if path.endswith("/login") and "device_token" not in payload and (device := self.cookie(DEVICE_COOKIE)):
            payload["device_token"] = device
        status, body = self.call(path, payload)
        return self.tokens_answer(status, body)

    def refresh(self) -> GatewayResponse:
        token = self.cookie(REFRESH_COOKIE)
        if token is None:
            raise Unauthorized("Not signed in on this browser.", code="web.no_session")
        status, body = self.call("/api/v1/auth/refresh", {"refresh_token": token})
        if status in (400, 401, 422):
            self.clear_session()
        return self.tokens_answer(status, body)

    def close(self) -> GatewayResponse:
        """Sign out: the login's whole token family is revoked (with the access token given, or one
        the cookie's refresh token is traded for), and the cookie cleared whatever happens."""
        authorization = self.req.environ.get("HTTP_AUTHORIZATION")
        if not authorization and (token := self.cookie(REFRESH_COOKIE)):
            status, body = self.call("/api/v1/auth/refresh", {"refresh_token": token})
            if status == 200 and isinstance(body, dict):
                authorization = f"Bearer {body.get('access_token')}"
        if authorization:
            self.call("/api/v1/auth/logout", None, authorization)
        self.clear_session()
        return self.answer(204, None)

    def tokens_answer(self, status: int, body: Any) -> GatewayResponse:
        """A token answer with its refresh (and device) token moved into cookies; any other as it came."""
        if status in (200, 201) and isinstance(body, dict) and "refresh_token" in body:
            self.set(REFRESH_COOKIE, str(body.pop("refresh_token")), REFRESH_COOKIE_SECONDS)
            self.set(MARKER_COOKIE, "1", REFRESH_COOKIE_SECONDS, path="/", http_only=False)
            if device := body.pop("device_token", None):
                self.set(DEVICE_COOKIE, str(device), DEVICE_COOKIE_SECONDS)
        return self.answer(status, body)

    def set(self, name: str, value: str, max_age: int, path: str = SESSION, http_only: bool = True) -> None:
        flags = ("; HttpOnly" if http_only else "") + ("; Secure" if self.secure else "")
        self.set_cookies.append(f"{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict{flags}")

    def clear_session(self) -> None:
        self.set(REFRESH_COOKIE, "", 0)
        self.set(MARKER_COOKIE, "", 0, path="/", http_only=False)

    def answer(self, status: int, body: Any) -> GatewayResponse:
        headers = [("Cache-Control", "no-store"), *SECURITY_HEADERS]
        headers += [("Set-Cookie", cookie) for cookie in self.set_cookies]
        if body is None:
            if status == 204:
                return GatewayResponse([], status, headers)
            body = json.loads(problem_body(status, "Upstream error", None, None, None, self.req.request_id))
        data = json.dumps(body).encode()
        content_type = PROBLEM_JSON if status >= 400 else "application/json"
        headers += [("Content-Type", content_type), ("Content-Length", str(len(data)))]
        return GatewayResponse([data], status, headers)


# ---- the public page of a share link --------------------------------------------------------------


def wants_html(environ: dict[str, Any]) -> bool:
    """Whether the client prefers an HTML page to JSON (a browser opening a link does)."""
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    accept = parse_accept_header(environ.get("HTTP_ACCEPT", ""), MIMEAccept)
    return accept.best_match(["application/json", "text/html"]) == "text/html"


_LABELS = {
    "mood": "Mood",
    "intensity": "Intensity",
    "tags": "Tags",
    "recorded_at": "Recorded",
    "type_label": "Hug",
    "date": "Date",
    "title": "Title",
    "shared_at": "Shared",
}


def shared_page(status: int, payload: Any) -> GatewayResponse:
    """The share's public page: its fields as escaped text in the app's style, no script."""
    rows: list[str] = []
    if status == 200 and isinstance(payload, dict):
        kind = str(payload.get("content_type", "content"))
        heading = {"mood": "A shared mood", "hug": "A shared hug", "achievement": "A shared achievement"}.get(
            kind, "Shared on HugMood"
        )
        for key, value in payload.items():
            if key == "content_type" or isinstance(value, dict):
                continue
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "none"
            elif key == "intensity" and isinstance(value, int | float):
                value = f"{round(value * 100)} %"
            label = _LABELS.get(key, key.replace("_", " ").capitalize())
            rows.append(f"<dt>{html.escape(label)}</dt><dd>{html.escape(str(value))}</dd>")
        message = ""
    elif status == 404:
        heading, message = "Nothing to see here", "This link is not shared any more, or never was."
    else:
        heading, message = "Not available right now", "HugMood cannot show this right now. Please try again soon."
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(heading)} · HugMood</title>"
        '<link rel="stylesheet" href="/assets/app.css"></head>'
        '<body><main class="shared card">'
        f'<p class="brand">HugMood</p><h1>{html.escape(heading)}</h1>'
        + (f"<dl>{''.join(rows)}</dl>" if rows else f"<p>{html.escape(message)}</p>")
        + '<p><a href="/">Open HugMood</a></p></main></body></html>'
    ).encode()
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(page))),
        ("Cache-Control", "no-store"),
        ("Vary", "Accept"),
        *SECURITY_HEADERS,
    ]
    return GatewayResponse([page], status, headers)


def shared_page_for(ask: Callable[[], Any]) -> GatewayResponse:
    """shared_page from the social service's answer (read whole; it is small), or for the
    gateway's own refusal when the service cannot answer (an HTML page all the same)."""
    try:
        answer = ask()
    except ProblemError as exc:
        return shared_page(exc.status, None)
    data = b"".join(answer)
    try:
        payload = json.loads(data) if data else None
    except ValueError:
        payload = None
    return shared_page(answer.status, payload)
