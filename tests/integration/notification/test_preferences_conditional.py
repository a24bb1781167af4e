"""ETags on notification preferences: 304, 412 for a stale partial update, 400 for a malformed header."""

from __future__ import annotations

import pytest

from shared.errors import PROBLEM_JSON

PATH = "/api/v1/notifications/preferences"


def test_preferences_have_an_etag_and_a_client_that_has_it_gets_304(caller):
    alice = caller()
    tag = alice.get(PATH).headers["ETag"]
    assert tag.startswith('"')
    cached = alice.get(PATH, headers={"If-None-Match": tag})
    assert (cached.status_code, cached.data) == (304, b"")
    assert caller().get(PATH).headers["ETag"] == tag  # the same defaults: the same representation


def test_two_devices_the_second_partial_update_on_a_stale_etag_is_412(caller):
    alice = caller()
    seen = alice.get(PATH).headers["ETag"]
    phone = alice.put(PATH, json={"types": {"hug_received": {"push": False}}}, headers={"If-Match": seen})
    assert phone.status_code == 200 and phone.headers["ETag"] != seen
    laptop = alice.put(PATH, json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers={"If-Match": seen})
    assert laptop.status_code == 412 and laptop.content_type == PROBLEM_JSON
    body = alice.get(PATH).json
    assert body["types"]["hug_received"]["push"] is False and body["quiet_hours"] is None
    retried = alice.put(
        PATH, json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers={"If-Match": phone.headers["ETag"]}
    )
    assert retried.status_code == 200 and retried.json["quiet_hours"] == {"start": "22:00", "end": "07:00"}


@pytest.mark.parametrize("value", ["abc", 'W/"', "\"a\" 'b'"])
def test_a_malformed_header_is_400(caller, value):
    alice = caller()
    response = alice.put(PATH, json={"quiet_hours": None}, headers={"If-Match": value})
    assert response.status_code == 400 and response.json["code"] == "precondition.malformed"
    assert alice.get(PATH, headers={"If-None-Match": value}).status_code == 400
