"""ETags on profiles and privacy settings: 304 for a client that has the current one, 412 for a
write based on an old one (two devices cannot silently overwrite each other), 400 for a header
that is not an ETag."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from sqlalchemy import text

from services.user.models import db
from shared.errors import PROBLEM_JSON

MALFORMED = ["abc", "W/abc", '"a" "b"', '"a",', '"unterminated', 'W/"a",,"b"', '*, "a"']


def strong(tag: str) -> bool:
    return tag.startswith('"') and tag.endswith('"') and len(tag) > 2


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/users/me/privacy"])
def test_a_single_object_has_an_etag_and_a_client_that_has_it_gets_304(person, path):
    alice = person()
    alice.get(path)  # the first request of a minute stamps last_active (after its answer)
    first = alice.get(path)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and strong(tag)
    assert alice.get(path).headers["ETag"] == tag  # stable while nothing changes
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        cached = alice.get(path, headers={"If-None-Match": header})
        assert (cached.status_code, cached.data, cached.headers["ETag"]) == (304, b"", tag), header
    assert alice.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_a_profile_edit_changes_its_etag_and_a_stale_one_is_412(person):
    alice = person()
    old = alice.get("/api/v1/users/me").headers["ETag"]
    edited = alice.put("/api/v1/users/me", json={"bio": "first"}, headers={"If-Match": old})
    assert edited.status_code == 200 and edited.headers["ETag"] != old
    assert alice.get("/api/v1/users/me").headers["ETag"] == edited.headers["ETag"]
    stale = alice.put("/api/v1/users/me", json={"bio": "second"}, headers={"If-Match": old})
    assert stale.status_code == 412 and stale.content_type == PROBLEM_JSON
    assert stale.json["code"] == "precondition.failed"
    assert alice.get("/api/v1/users/me").json["bio"] == "first"
    assert alice.get("/api/v1/users/me", headers={"If-None-Match": old}).status_code == 200
    fresh = alice.put("/api/v1/users/me", json={"bio": "second"}, headers={"If-Match": edited.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.json["bio"] == "second"


def test_without_if_match_a_write_goes_through_as_before(person):
    alice = person()
    assert alice.put("/api/v1/users/me/privacy", json={"allow_hugs_from": "anyone"}).status_code == 200


def test_if_match_star_and_a_list_holding_the_current_etag_pass_a_weak_one_does_not(person):
    alice = person()
    tag = alice.get("/api/v1/users/me/privacy").headers["ETag"]
    weak = alice.put("/api/v1/users/me/privacy", json={"show_online_status": False}, headers={"If-Match": f"W/{tag}"})
    assert weak.status_code == 412  # If-Match compares strongly (RFC 9110 §13.1.1)
    listed = alice.put(
        "/api/v1/users/me/privacy", json={"show_online_status": False}, headers={"If-Match": f'"nope", {tag}'}
    )
    assert listed.status_code == 200
    anything = alice.put("/api/v1/users/me/privacy", json={"show_online_status": True}, headers={"If-Match": "*"})
    assert anything.status_code == 200


def test_last_active_moving_does_not_refuse_an_edit_but_shows_to_a_reader(person):
    """The server stamps last_active after a request; an edit based on the profile just read
    must not be 412 for that, while a reader polling the profile sees the stamp move."""
    alice = person()
    read = alice.get("/api/v1/users/me")
    db.session.execute(
        text("UPDATE users.profiles SET last_active = now() - interval '1 hour' WHERE user_id = :u"),
        {"u": uuid.UUID(alice.id)},
    )
    moved = alice.get("/api/v1/users/me", headers={"If-None-Match": read.headers["ETag"]})
    assert moved.status_code == 200 and moved.json["last_active"] != read.json["last_active"]
    edit = alice.put("/api/v1/users/me", json={"bio": "hello"}, headers={"If-Match": read.headers["ETag"]})
    assert edit.status_code == 200


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
def test_a_header_that_is_not_an_etag_is_400(person, value, header):
    alice = person()
    method = alice.put if header == "If-Match" else alice.get
    response = method("/api/v1/users/me/privacy", json={"allow_hugs_from": "none"}, headers={header: value})
    assert response.status_code == 400 and response.content_type == PROBLEM_JSON
    assert response.json["code"] == "precondition.malformed" and header in response.json["errors"]
    assert alice.get("/api/v1/users/me/privacy").json["allow_hugs_from"] == "friends"


def test_another_users_settings_stay_403_and_their_profile_403_whatever_the_if_match(person):
    alice, bob = person(), person()
    tag = alice.get("/api/v1/users/me/privacy").headers["ETag"]
    assert bob.put(f"/api/v1/users/{alice.id}/privacy", json={}, headers={"If-Match": tag}).status_code == 403
    assert bob.get(f"/api/v1/users/{alice.id}/privacy", headers={"If-None-Match": tag}).status_code == 403
    profile_tag = alice.get("/api/v1/users/me").headers["ETag"]
    refused = bob.put(f"/api/v1/users/{alice.id}", json={"bio": "x"}, headers={"If-Match": profile_tag})
    assert refused.status_code == 403


def test_two_devices_editing_privacy_the_second_gets_412(user_server, make_user):
    """Both devices read, both write with the ETag they read: the second is refused, over real
    HTTP with each request its own transaction."""
    _, token, _ = make_user()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{user_server}/api/v1/users/me/privacy"
    phone, laptop = session.get(url, timeout=10), session.get(url, timeout=10)
    assert phone.headers["ETag"] == laptop.headers["ETag"]
    first = session.put(url, json={"share_moods_with": "none"}, headers={"If-Match": phone.headers["ETag"]})
    second = session.put(url, json={"share_moods_with": "public"}, headers={"If-Match": laptop.headers["ETag"]})
    assert (first.status_code, second.status_code) == (200, 412)
    assert session.get(url, timeout=10).json()["share_moods_with"] == "none"


def test_concurrent_writes_with_one_etag_exactly_one_wins(user_server, make_user):
    """If-Match is checked on the locked row in the write's transaction: no two writers holding
    the same ETag both succeed, however close together they arrive."""
    _, token, _ = make_user()
    url = f"{user_server}/api/v1/users/me/privacy"
    headers = {"Authorization": f"Bearer {token}"}
    tag = requests.get(url, headers=headers, timeout=10).headers["ETag"]
    start = threading.Barrier(6)
    statuses: list[int] = []

    def write(choice: str) -> None:
        start.wait()
        response = requests.put(url, json={"allow_hugs_from": choice}, headers={**headers, "If-Match": tag}, timeout=10)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=write, args=(c,)) for c in ["anyone", "none"] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(statuses) == [200, 412, 412, 412, 412, 412]
