import pytest

from gateway.auth import ClientAddress
from gateway.routes import match
from shared.ratelimit import LocalLimiter


@pytest.mark.parametrize(
    "path,service",
    [
        ("/api/v1/auth/login", "auth"),
        ("/api/v1/users/me", "user"),
        ("/api/v1/users/search", "user"),
        ("/api/v1/moods", "mood"),
        ("/api/v1/moods/abc", "mood"),
        ("/api/v1/analytics/correlations/me", "mood"),
        ("/api/v1/analytics/insights/abc/read", "mood"),
        ("/api/v1/hugs/types", "hug"),
        ("/api/v1/notifications", "notification"),
        ("/api/v1/notifications/poll", "notification"),
        ("/api/v1/devices", "notification"),
        ("/api/v1/social/feed", "social"),
    ],
)
def test_route_table(path, service):
    assert match(path).service == service


@pytest.mark.parametrize(
    "path", ["/api/v1/moodsx", "/api/v1/analyticsx", "/api/v2/moods", "/internal/users", "/api/v1/", "/"]
)
def test_unknown_paths_do_not_match(path):
    assert match(path) is None


def test_long_poll_route_is_marked():
    assert match("/api/v1/notifications/poll").long_poll and not match("/api/v1/notifications").long_poll


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    addresses = ClientAddress([])
    assert addresses.resolve("203.0.113.5", "1.2.3.4") == ("203.0.113.5", "203.0.113.5")


def test_forwarded_for_from_a_trusted_proxy_is_believed_up_to_the_first_untrusted_hop():
    addresses = ClientAddress(["10.0.0.0/8"])
    client, chain = addresses.resolve("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.9")
    assert client == "198.51.100.7"
    assert chain == "6.6.6.6, 198.51.100.7, 10.0.0.9, 10.0.0.2"
    assert addresses.resolve("10.0.0.2", "garbage")[0] == "10.0.0.2"


def test_local_limiter_counts_per_key():
    limiter = LocalLimiter()
    assert [limiter.hit("a", 2, 60).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("b", 2, 60).allowed


def test_provider_sign_in_is_public_and_strictly_limited_for_any_provider_name():
    from gateway import routes

    key = routes.access_key("POST", "/api/v1/auth/oauth/google")
    assert key in routes.PUBLIC and routes.STRICT[key] == "login"
    assert routes.access_key("POST", "/api/v1/auth/oauth/google/extra") not in routes.PUBLIC
    assert routes.access_key("GET", "/api/v1/hugs") == ("GET", "/api/v1/hugs")


def test_a_shared_link_is_public_for_any_token_but_only_to_read():
    from gateway import routes

    assert routes.access_key("GET", "/api/v1/social/shared/abc_DEF-123") in routes.PUBLIC
    assert routes.access_key("GET", "/api/v1/social/shared/abc/extra") not in routes.PUBLIC
    assert routes.access_key("DELETE", "/api/v1/social/shared/abc") not in routes.PUBLIC
    assert routes.access_key("POST", "/api/v1/social/share") not in routes.PUBLIC
    assert routes.access_key("GET", "/api/v1/social/feed") not in routes.PUBLIC
    assert routes.match("/api/v1/social/shared/abc").service == "social"


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), ("0", 0.0), ("0.5", 0.5), (None, 0.0), ("", 0.0), ("soon", 0.0)]
)
def test_the_poll_wait_header_reads_as_seconds_and_garbage_as_answer_now(header, seconds):
    from gateway.app import _seconds

    assert _seconds(header) == seconds


@pytest.mark.parametrize(
    ("path_info", "forwarded"),
    [
        ("/api/v1/moods/abc\x00", "/api/v1/moods/abc%00"),
        ("/api/v1/moods/\xc3\xa9", "/api/v1/moods/%C3%A9"),  # WSGI's latin-1 reading of UTF-8 "é"
        ("/api/v1/moods/\xff", "/api/v1/moods/%FF"),
        ("/api/v1/moods/100%", "/api/v1/moods/100%25"),
        ("/api/v1/moods/a b?c#d\x7f", "/api/v1/moods/a%20b%3Fc%23d%7F"),
    ],
)
def test_a_decoded_path_is_escaped_again_for_the_upstream(path_info, forwarded):
    from gateway.app import upstream_path

    assert upstream_path(path_info) == forwarded


def test_a_path_of_safe_characters_is_forwarded_as_it_is():
    from gateway.app import upstream_path

    path = "/api/v1/moods/AZaz09-._~!$&'()*+,;=:@/x"
    assert upstream_path(path) is path
