"""Hug and notification rows of the contract, through the gateway, with the real worker and relay."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg2
import pytest

from tests.e2e.fleet import Client, wait_for

pytestmark = pytest.mark.e2e


def notifications(client: Client, **params: Any) -> list[dict]:
    response = client.get("/api/v1/notifications", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def notified(client: Client, kind: str, **data: str) -> dict:
    """Wait for the caller's notification of `kind` whose data has these values."""

    def find() -> dict | None:
        for item in notifications(client):
            if item["type"] == kind and all(item["data"].get(k) == v for k, v in data.items()):
                return item
        return None

    return wait_for(find)


def befriend(a: tuple[Client, dict], b: tuple[Client, dict]) -> None:
    (alice, a_body), (bob, b_body) = a, b
    assert alice.post(f"/api/v1/users/{b_body['user']['id']}/friends").status_code == 201
    assert bob.put(f"/api/v1/users/me/friends/{a_body['user']['id']}", json={"status": "accepted"}).status_code == 200


def uid(person: tuple[Client, dict]) -> str:
    return person[1]["user"]["id"]


def open_to_hugs(*people: tuple[Client, dict]) -> None:
    """Accept hugs from anyone (the default is friends only)."""
    for client, _ in people:
        assert client.put("/api/v1/users/me/privacy", json={"allow_hugs_from": "anyone"}).status_code == 200


def test_a_hug_answers_the_recipients_held_poll(people):
    alice, bob = people(2)
    open_to_hugs(bob)
    first = bob[0].get("/api/v1/notifications/poll")
    assert first.status_code == 200 and first.json()["items"] == []
    cursor = first.json()["cursor"]
    answered: list = []
    poller = threading.Thread(
        target=lambda: answered.append(
            bob[0].get("/api/v1/notifications/poll", params={"cursor": cursor, "timeout": 30}, timeout=40)
        )
    )
    poller.start()
    time.sleep(0.3)
    assert not answered, "the poll should be held"
    hug = alice[0].post("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "warm", "message": "thinking of you"})
    assert hug.status_code == 201, hug.text
    poller.join(timeout=20)
    [response] = answered
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["type"] == "hug_received" and item["data"]["hug_id"] == hug.json()["id"]
    assert response.json()["cursor"] != cursor
    # The same cursor again: nothing new, answered empty at its timeout with the cursor unchanged.
    again = bob[0].get("/api/v1/notifications/poll", params={"cursor": response.json()["cursor"], "timeout": 1})
    assert again.json() == {"items": [], "cursor": response.json()["cursor"]}


def test_hug_input_rules_through_the_gateway(people):
    alice, bob = people(2)
    open_to_hugs(bob)
    types = alice[0].get("/api/v1/hugs/types").json()
    names = [t["name"] for t in (types["items"] if isinstance(types, dict) else types)]
    assert len(names) >= 5
    send = alice[0].post
    assert send("/api/v1/hugs", json={"recipient_id": uid(alice), "type": names[0]}).status_code == 422
    assert send("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "no-such-hug"}).status_code == 422
    assert (
        send("/api/v1/hugs", json={"recipient_id": uid(bob), "type": names[0], "message": "x" * 501}).status_code == 422
    )
    assert send("/api/v1/hugs", json={"recipient_id": str(uuid.uuid4()), "type": names[0]}).status_code in (404, 422)
    bad = send("/api/v1/hugs", data=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    assert bob[0].put("/api/v1/users/me/privacy", json={"allow_hugs_from": "none"}).status_code == 200
    refused = send("/api/v1/hugs", json={"recipient_id": uid(bob), "type": names[0]})
    assert refused.status_code == 403 and refused.headers["Content-Type"] == "application/problem+json"


def test_only_the_recipient_reads_a_hug_and_lists_are_private(people):
    alice, bob, carol = people(3)
    open_to_hugs(bob)
    hug = alice[0].post("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "warm"}).json()
    unread = bob[0].get("/api/v1/hugs/received", params={"unread": "true"}).json()["items"]
    assert [h["id"] for h in unread] == [hug["id"]]
    assert [h["id"] for h in alice[0].get("/api/v1/hugs/sent").json()["items"]] == [hug["id"]]
    assert carol[0].get("/api/v1/hugs/received").json()["items"] == []
    assert alice[0].put(f"/api/v1/hugs/{hug['id']}/read").status_code == 403
    assert carol[0].put(f"/api/v1/hugs/{hug['id']}/read").status_code == 404
    assert bob[0].put("/api/v1/hugs/not-an-id/read").status_code == 404
    assert bob[0].put(f"/api/v1/hugs/{hug['id']}/read").status_code == 200
    assert bob[0].get("/api/v1/hugs/received", params={"unread": "true"}).json()["items"] == []
    assert bob[0].get("/api/v1/hugs/received", params={"unread": "maybe"}).status_code == 422


def test_accepting_a_hug_request_sends_the_requester_a_hug(people):
    alice, bob, carol = people(3)
    created = alice[0].post("/api/v1/hugs/request", json={"recipient_id": uid(bob), "message": "rough day"})
    assert created.status_code == 201 and created.json()["status"] == "pending"
    request_id = created.json()["id"]
    notified(bob[0], "hug_request")
    incoming = bob[0].get("/api/v1/hugs/requests", params={"direction": "incoming"}).json()["items"]
    assert request_id in [r["id"] for r in incoming]
    assert bob[0].get("/api/v1/hugs/requests", params={"direction": "sideways"}).status_code == 422
    assert alice[0].put(f"/api/v1/hugs/request/{request_id}", json={"status": "accepted"}).status_code == 403
    assert carol[0].put(f"/api/v1/hugs/request/{request_id}", json={"status": "accepted"}).status_code == 404
    assert bob[0].put(f"/api/v1/hugs/request/{request_id}", json={"status": "maybe"}).status_code == 422
    assert bob[0].put(f"/api/v1/hugs/request/{request_id}", json={"status": "accepted"}).status_code == 200
    assert bob[0].put(f"/api/v1/hugs/request/{request_id}", json={"status": "declined"}).status_code == 409
    received = alice[0].get("/api/v1/hugs/received").json()["items"]
    assert [h["sender_id"] for h in received] == [uid(bob)]
    notified(alice[0], "hug_received", hug_id=received[0]["id"])


def test_a_group_hug_completes_when_every_invitee_joins(people):
    alice, bob, carol, dave = people(4)
    for friend in (bob, carol):
        befriend(alice, friend)
    created = alice[0].post(
        "/api/v1/hugs/group", json={"name": "for Bob's exam", "participant_ids": [uid(bob), uid(carol)]}
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    for invitee in (bob, carol):
        notified(invitee[0], "group_hug_invite", group_hug_id=group_id)
    assert dave[0].get(f"/api/v1/hugs/group/{group_id}").status_code == 404
    assert dave[0].put(f"/api/v1/hugs/group/{group_id}/join").status_code == 404
    assert bob[0].put(f"/api/v1/hugs/group/{group_id}/join").json()["status"] == "active"
    assert bob[0].put(f"/api/v1/hugs/group/{group_id}/join").status_code == 409
    assert carol[0].put(f"/api/v1/hugs/group/{group_id}/join").json()["status"] == "completed"
    assert bob[0].get(f"/api/v1/hugs/group/{group_id}").json()["status"] == "completed"
    bad = alice[0].post("/api/v1/hugs/group", json={"name": "x", "participant_ids": ["not-an-id"]})
    assert bad.status_code == 422


def test_notifications_are_the_owners_alone(people):
    alice, bob = people(2)
    open_to_hugs(bob)
    alice[0].post("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "warm"})
    item = notified(bob[0], "hug_received")
    assert notifications(alice[0]) == []
    assert alice[0].put(f"/api/v1/notifications/{item['id']}/read").status_code == 404
    assert alice[0].delete(f"/api/v1/notifications/{item['id']}").status_code == 404
    assert bob[0].put("/api/v1/notifications/not-an-id/read").status_code == 404
    assert bob[0].put(f"/api/v1/notifications/{item['id']}/read").status_code == 200
    assert notifications(bob[0], unread="true") == []
    assert bob[0].delete(f"/api/v1/notifications/{item['id']}").status_code == 204
    assert notifications(bob[0]) == []


def test_poll_input_rules(people):
    ((alice, _),) = people(1)
    for params in ({"timeout": 0}, {"timeout": 61}, {"timeout": "soon"}, {"cursor": "not a cursor!"}):
        response = alice.get("/api/v1/notifications/poll", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"


def test_in_app_off_stores_nothing_but_push_still_goes_out(fleet, people):
    alice, bob = people(2)
    open_to_hugs(bob)
    assert (
        bob[0].post("/api/v1/devices", json={"device_token": f"tok-{uid(bob)}", "device_type": "ios"}).status_code
        == 201
    )
    assert (
        bob[0].post("/api/v1/devices", json={"device_token": f"tok-{uid(bob)}", "device_type": "ios"}).status_code
        == 200
    )
    prefs = bob[0].put("/api/v1/notifications/preferences", json={"types": {"hug_received": {"in_app": False}}})
    assert prefs.status_code == 200 and prefs.json()["types"]["hug_received"]["push"] is True
    assert (
        bob[0].put("/api/v1/notifications/preferences", json={"types": {"hug_received": {"in_app": "no"}}}).status_code
        == 422
    )
    hug = alice[0].post("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "warm"}).json()
    sent = wait_for(lambda: [m for m in recorded(fleet) if hug["id"] in json.dumps(m)])
    assert sent[0]["channel"] == "push" and f"tok-{uid(bob)}" in json.dumps(sent[0])
    assert notifications(bob[0]) == []


def verify_email(fleet, person: tuple[Client, dict]) -> None:
    """Confirm the person's address with the link of the verification email sent at registration."""
    client, body = person
    address = body["user"]["email"]
    [mail] = wait_for(
        lambda: [m for m in recorded(fleet) if m.get("to") == address and m["subject"].startswith("Confirm your")]
    )
    [token] = re.findall(r"verify-email\?token=([A-Za-z0-9_%-]+)", mail["body"])
    assert client.post("/api/v1/auth/email/verify", json={"token": unquote(token)}).status_code == 204
    assert client.get("/api/v1/auth/me").json()["email_verified"] is True


def test_a_user_who_turns_email_on_is_emailed_a_hug_once_the_address_is_verified(fleet, people):
    alice, bob = people(2)
    assert bob[0].get("/api/v1/auth/me").json()["email_verified"] is False
    verify_email(fleet, bob)
    open_to_hugs(bob)
    prefs = bob[0].put("/api/v1/notifications/preferences", json={"types": {"hug_received": {"email": True}}})
    assert prefs.status_code == 200 and prefs.json()["types"]["hug_received"]["email"] is True
    hug = alice[0].post("/api/v1/hugs", json={"recipient_id": uid(bob), "type": "warm", "message": "for you"}).json()
    item = notified(bob[0], "hug_received", hug_id=hug["id"])
    address = bob[1]["user"]["email"]
    [mail] = wait_for(
        lambda: [
            m for m in recorded(fleet) if m.get("channel") == "email" and m["to"] == address and "for you" in m["body"]
        ]
    )
    assert mail["subject"] == f"HugMood: {item['title']}" and mail["body"].startswith(item["body"])
    assert "for you" in mail["body"]


def test_devices_belong_to_their_owner(people):
    alice, bob = people(2)
    device = alice[0].post("/api/v1/devices", json={"device_token": f"a-{uuid.uuid4()}", "device_type": "android"})
    assert device.status_code == 201
    assert alice[0].post("/api/v1/devices", json={"device_token": "x", "device_type": "fridge"}).status_code == 422
    assert bob[0].delete(f"/api/v1/devices/{device.json()['id']}").status_code == 404
    assert alice[0].delete(f"/api/v1/devices/{device.json()['id']}").status_code == 204


def recorded(fleet) -> list[dict]:
    path = Path(fleet.env["NOTIFICATION_RECORDING_PATH"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_password_reset_is_emailed_with_its_token_and_stored_nowhere_else(fleet, people):
    ((alice, body),) = people(1)
    email = body["user"]["email"]
    assert alice.post("/api/v1/auth/password/reset", json={"email": email}).status_code == 202
    [mail] = wait_for(
        lambda: [m for m in recorded(fleet) if m.get("to") == email and m["subject"] == "Reset your HugMood password"]
    )
    # The token is whichever long URL-safe word of the email the confirm endpoint accepts.
    words = set(re.findall(r"[A-Za-z0-9_-]{40,}", json.dumps(mail)))
    accepted = [
        w
        for w in words
        if alice.post(
            "/api/v1/auth/password/reset/confirm", json={"token": w, "password": "a new quiet harbour"}
        ).status_code
        == 204
    ]
    assert len(accepted) == 1, "the email carries the one working reset token"
    [token] = accepted
    # The reset revoked every session: sign in again with the new password.
    login = alice.post(
        "/api/v1/auth/login", json={"username": body["user"]["username"], "password": "a new quiet harbour"}
    )
    assert login.status_code == 200, login.text
    alice.bearer(login.json()["access_token"])
    item = notified(alice, "password_reset")
    assert token not in json.dumps(item)
    conn = psycopg2.connect(fleet.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload::text FROM auth.outbox WHERE event_type = 'PasswordResetRequested'")
            outbox = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT row_to_json(n)::text FROM notifications.notifications n")
            stored = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    assert outbox and not any(token in row for row in outbox)
    assert stored and not any(token in row for row in stored)


def test_held_polls_do_not_starve_other_routes(fleet, people):
    (alice, _), (bob, _) = people(2)
    cursor = alice.get("/api/v1/notifications/poll").json()["cursor"]
    held = 150  # more than any thread pool of the fleet: only gevent's worker connections can hold them
    answers: list[int] = []
    lock = threading.Lock()

    def hold() -> None:
        client = Client(fleet.gateway, f"127.0.5.{uuid.uuid4().int % 250 + 1}")
        client.headers["Authorization"] = alice.headers["Authorization"]
        response = client.get("/api/v1/notifications/poll", params={"cursor": cursor, "timeout": 6}, timeout=20)
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=hold) for _ in range(held)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # all of them held now
    assert not answers, "the polls answered before their timeout"
    started = time.monotonic()
    assert bob.get("/api/v1/notifications").status_code == 200
    assert bob.get("/api/v1/hugs/types").status_code == 200
    assert time.monotonic() - started < 2
    for thread in threads:
        thread.join()
    assert answers == [200] * held


def test_a_hug_retried_with_its_idempotency_key_is_sent_once(people):
    """A mobile client lost the answer to its POST /hugs and sends it again: one hug, one
    notification, and the same answer both times."""
    alice, bob = people(2)
    open_to_hugs(bob)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"recipient_id": uid(bob), "type": "warm", "message": "once"}
    first = alice[0].post("/api/v1/hugs", json=body, headers=key)
    retry = alice[0].post("/api/v1/hugs", json=body, headers=key)
    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    changed = alice[0].post("/api/v1/hugs", json={**body, "message": "twice"}, headers=key)
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency.key_reused"
    notified(bob[0], "hug_received", hug_id=first.json()["id"])
    sent = alice[0].get("/api/v1/hugs/sent").json()["items"]
    assert [hug["id"] for hug in sent] == [first.json()["id"]]
    received = [n for n in notifications(bob[0]) if n["type"] == "hug_received"]
    assert len(received) == 1
