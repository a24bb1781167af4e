"""The web app as the gateway serves it: pages, assets, security headers, and the cookie session
routes against the real auth service (refresh token only in an HttpOnly cookie, CSRF checks)."""

from __future__ import annotations

import uuid
from http.cookies import SimpleCookie

import pytest
from werkzeug.test import Client

from gateway import create_app
from gateway.webapp import MARKER_COOKIE, REFRESH_COOKIE, SESSION, shared_page, wants_html
from tests.integration.gateway.live_gateway import NOWHERE

WEB = {"X-HugMood-Client": "web"}


@pytest.fixture(scope="module")
def gateway(auth_server: str, redis_url: str) -> Client:
    app = create_app({"AUTH_URL": auth_server, "REDIS_URL": redis_url, "GATEWAY_AUTH_RATE_LIMIT": "1000"})
    return Client(app)


def _fresh_client(gateway: Client) -> Client:
    return Client(gateway.application)


def _cookie(response, name: str) -> tuple[str, str]:
    """The value and full Set-Cookie line of cookie `name`."""
    for line in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(line)
        if name in cookie:
            return cookie[name].value, line
    raise AssertionError(f"no Set-Cookie for {name}")


def _register(gateway: Client, client: Client | None = None):
    n = uuid.uuid4().hex[:10]
    body = {"username": f"web_{n}", "email": f"web_{n}@example.com", "password": "a soft warm blanket"}
    return (client or gateway).post(f"{SESSION}/register", json=body, headers=WEB), body


@pytest.mark.parametrize("path", ["/", "/today", "/insights", "/reset-password", "/verify-email", "/people/abc"])
def test_app_paths_serve_the_page_with_a_strict_policy(gateway, path):
    response = gateway.get(path + "?token=x")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert b'<script type="module" src="/assets/app.js">' in response.data
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_assets_have_their_types_and_revalidate_with_an_etag(gateway):
    js = gateway.get("/assets/app.js")
    assert js.status_code == 200 and js.content_type.startswith("text/javascript")
    assert js.headers["Cache-Control"] == "no-cache"
    again = gateway.get("/assets/app.js", headers={"If-None-Match": js.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    css = gateway.get("/assets/app.css")
    assert css.status_code == 200 and css.content_type.startswith("text/css")


@pytest.mark.parametrize(
    "path", ["/assets/nope.js", "/assets/../gateway/app.py", "/assets/index.html", "/assets/", "/nowhere"]
)
def test_unknown_files_are_problem_404(gateway, path):
    response = gateway.get(path)
    assert response.status_code == 404 and response.content_type == "application/problem+json"


def test_sign_up_keeps_the_refresh_token_in_an_httponly_cookie(gateway):
    client = _fresh_client(gateway)
    response, _ = _register(gateway, client)
    assert response.status_code == 201, response.json
    assert "refresh_token" not in response.json and response.json["access_token"]
    _, line = _cookie(response, REFRESH_COOKIE)
    assert "HttpOnly" in line and "SameSite=Strict" in line and f"Path={SESSION}" in line
    assert "Secure" not in line  # plain http here; over https it is Secure
    # The app's script sees only a marker that a session cookie is there, never a token.
    marker, marker_line = _cookie(response, MARKER_COOKIE)
    assert marker == "1" and "HttpOnly" not in marker_line and "Path=/;" in marker_line
    refreshed = client.post(f"{SESSION}/refresh", headers=WEB)
    assert refreshed.status_code == 200 and refreshed.json["access_token"]
    assert "refresh_token" not in refreshed.json
    # The cookie was rotated: the old refresh token is spent, the new one works.
    assert _cookie(refreshed, REFRESH_COOKIE)[0] != _cookie(response, REFRESH_COOKIE)[0]
    assert client.post(f"{SESSION}/refresh", headers=WEB).status_code == 200


def test_over_https_the_cookie_is_secure(gateway):
    client = _fresh_client(gateway)
    n = uuid.uuid4().hex[:10]
    response = client.post(
        f"{SESSION}/register",
        json={"username": f"web_{n}", "email": f"web_{n}@example.com", "password": "a soft warm blanket"},
        headers={**WEB, "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 201, response.json
    assert "Secure" in _cookie(response, REFRESH_COOKIE)[1]


def test_sign_in_then_sign_out_ends_the_login(gateway):
    registered, body = _register(gateway)
    assert registered.status_code == 201
    client = _fresh_client(gateway)
    signed_in = client.post(SESSION, json={"username": body["username"], "password": body["password"]}, headers=WEB)
    assert signed_in.status_code == 200 and "refresh_token" not in signed_in.json
    assert "device_token" not in signed_in.json
    assert "HttpOnly" in _cookie(signed_in, "hm_device")[1]
    token = signed_in.json["access_token"]
    out = client.delete(SESSION, headers={**WEB, "Authorization": f"Bearer {token}"})
    assert out.status_code == 204
    assert _cookie(out, REFRESH_COOKIE)[0] == "" and _cookie(out, MARKER_COOKIE)[0] == ""
    assert client.post(f"{SESSION}/refresh", headers=WEB).status_code == 401
    assert gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_sign_out_with_only_the_cookie_revokes_the_login(gateway):
    client = _fresh_client(gateway)
    registered, _ = _register(gateway, client)
    token = registered.json["access_token"]
    assert client.delete(SESSION, headers=WEB).status_code == 204
    assert gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_wrong_password_is_the_auth_services_problem(gateway):
    _, body = _register(gateway)
    response = gateway.post(SESSION, json={"username": body["username"], "password": "not it at all"}, headers=WEB)
    assert response.status_code == 401 and response.content_type == "application/problem+json"
    assert response.json["code"] == "auth.invalid_credentials"
    assert not response.headers.getlist("Set-Cookie")


def test_refresh_without_a_cookie_is_401(gateway):
    response = _fresh_client(gateway).post(f"{SESSION}/refresh", headers=WEB)
    assert response.status_code == 401 and response.json["code"] == "web.no_session"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no custom header: a cross-site form post
        {**WEB, "Origin": "https://evil.example"},
        {**WEB, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_requests_to_the_session_routes_are_refused(gateway, headers):
    client = _fresh_client(gateway)
    registered, _ = _register(gateway, client)
    assert registered.status_code == 201
    for method, path in (("POST", f"{SESSION}/refresh"), ("DELETE", SESSION), ("POST", SESSION)):
        response = client.open(path, method=method, json={}, headers=headers)
        assert response.status_code == 403 and response.json["code"] == "web.csrf", (method, path)
    # The session is untouched.
    assert client.post(f"{SESSION}/refresh", headers=WEB).status_code == 200


def test_same_origin_requests_pass(gateway):
    client = _fresh_client(gateway)
    _register(gateway, client)
    response = client.post(
        f"{SESSION}/refresh", headers={**WEB, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"[1, 2]", "application/json", 422),
        (b"{nope", "application/json", 400),
        (b"a=b", "application/x-www-form-urlencoded", 415),
        (b"", "application/json", 422),
        (b'{"username": "a\\u0000b"}', "application/json", 422),
    ],
)
def test_bad_bodies_are_problem_4xx(gateway, data, content_type, status):
    response = gateway.post(SESSION, data=data, content_type=content_type, headers=WEB)
    assert response.status_code == status and response.content_type == "application/problem+json"


def test_a_malformed_cookie_reads_as_no_session(gateway):
    client = _fresh_client(gateway)
    response = client.post(f"{SESSION}/refresh", headers={**WEB, "Cookie": 'hm_refresh="\\x; ;;='})
    assert response.status_code == 401 and response.content_type == "application/problem+json"


def test_another_method_on_a_session_route_is_405(gateway):
    assert gateway.get(SESSION).status_code == 405
    assert gateway.put(f"{SESSION}/refresh", headers=WEB).status_code == 405


def test_browsers_get_html_and_clients_json():
    assert wants_html({"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert not wants_html({"HTTP_ACCEPT": "*/*"})
    assert not wants_html({"HTTP_ACCEPT": "application/json"})
    assert not wants_html({})


def test_the_shared_page_escapes_what_it_shows():
    page = shared_page(200, {"content_type": "mood", "mood": "<img src=x onerror=alert(1)>", "tags": ['"><script>']})
    body = b"".join(page.response).decode()
    assert "<img" not in body and "<script>" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert page.headers["Content-Security-Policy"]
    gone = shared_page(404, {"code": "social.share_not_found"})
    assert gone.status_code == 404 and "not shared" in b"".join(gone.response).decode()


def test_a_share_link_the_social_service_cannot_answer_is_still_a_page(redis_url):
    client = Client(create_app({"REDIS_URL": redis_url, "SOCIAL_URL": NOWHERE}))
    path = "/api/v1/social/shared/" + "a" * 43
    page = client.get(path, headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 502 and page.content_type == "text/html; charset=utf-8"
    assert b"Not available right now" in page.data and page.headers["Content-Security-Policy"]
    api = client.get(path, headers={"Accept": "application/json"})
    assert api.status_code == 502 and api.content_type == "application/problem+json"
