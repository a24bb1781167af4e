"""ETags on mood entries: 304 for a reader that has the current one, 412 for an edit or a delete
based on an old one, 400 for a header that is not an ETag, and no precondition that tells another
user anything about an entry they may not see."""

from __future__ import annotations

import pytest

from shared.errors import PROBLEM_JSON


def test_a_mood_has_an_etag_and_a_reader_that_has_it_gets_304(person):
    alice = person()
    entry = alice.record(note="sunny")
    read = alice.get(f"/api/v1/moods/{entry['id']}")
    tag = read.headers["ETag"]
    assert read.status_code == 200 and tag.startswith('"') and not tag.startswith("W/")
    cached = alice.get(f"/api/v1/moods/{entry['id']}", headers={"If-None-Match": tag})
    assert (cached.status_code, cached.data, cached.headers["ETag"]) == (304, b"", tag)


def test_an_edit_with_a_stale_etag_is_412_and_changes_nothing(person):
    alice = person()
    path = f"/api/v1/moods/{alice.record(note='first')['id']}"
    old = alice.get(path).headers["ETag"]
    edited = alice.put(path, json={"note": "second"}, headers={"If-Match": old})
    assert edited.status_code == 200 and edited.headers["ETag"] not in (old, None)
    stale = alice.put(path, json={"note": "third"}, headers={"If-Match": old})
    assert stale.status_code == 412 and stale.content_type == PROBLEM_JSON
    assert stale.json["code"] == "precondition.failed"
    assert alice.get(path).json["note"] == "second"
    assert alice.get(path, headers={"If-None-Match": old}).status_code == 200


def test_a_delete_with_a_stale_etag_is_412_and_with_the_current_one_deletes(person):
    alice = person()
    path = f"/api/v1/moods/{alice.record()['id']}"
    old = alice.get(path).headers["ETag"]
    current = alice.put(path, json={"intensity": 0.9}).headers["ETag"]
    refused = alice.delete(path, headers={"If-Match": old})
    assert refused.status_code == 412 and alice.get(path).status_code == 200
    assert alice.delete(path, headers={"If-Match": current}).status_code == 204
    assert alice.get(path).status_code == 404


@pytest.mark.parametrize("value", ["abc", "W/abc", '"a" "b"', '"a",'])
def test_a_header_that_is_not_an_etag_is_400(person, value):
    alice = person()
    path = f"/api/v1/moods/{alice.record()['id']}"
    for response in (
        alice.put(path, json={"note": "x"}, headers={"If-Match": value}),
        alice.delete(path, headers={"If-Match": value}),
        alice.get(path, headers={"If-None-Match": value}),
    ):
        assert response.status_code == 400 and response.content_type == PROBLEM_JSON
        assert response.json["code"] == "precondition.malformed"
    assert alice.get(path).json["note"] is None


def test_another_users_mood_is_404_or_403_whatever_the_precondition(person):
    alice, bob = person(), person()
    private = alice.record()
    public = alice.record(is_public=True)
    alice.set_privacy(share_moods_with="public")
    for method in (bob.put, bob.delete):
        hidden = method(f"/api/v1/moods/{private['id']}", json={"note": "mine"}, headers={"If-Match": "*"})
        assert hidden.status_code == 404  # never 412: that would confirm the entry exists
    tag = alice.get(f"/api/v1/moods/{public['id']}").headers["ETag"]
    assert bob.get(f"/api/v1/moods/{public['id']}", headers={"If-None-Match": tag}).status_code == 304
    refused = bob.put(f"/api/v1/moods/{public['id']}", json={"note": "mine"}, headers={"If-Match": tag})
    assert refused.status_code == 403
