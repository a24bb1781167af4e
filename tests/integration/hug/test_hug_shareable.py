"""GET /internal/v1/hugs/{id}/shareable: for HugMood services only, and never the message."""

from __future__ import annotations

import uuid

import pytest

PATH = "/internal/v1/hugs/{}/shareable"


@pytest.fixture
def as_service(service_token):
    return {"Authorization": f"Bearer {service_token('social')}"}


def test_a_service_gets_the_shareable_fields_and_never_the_message(person, client, as_service):
    sender, recipient = person(), person()
    recipient.open_hugs()
    hug = sender.hug(recipient, message="just between us")
    response = client.get(PATH.format(hug["id"]), headers=as_service)
    assert response.status_code == 200, response.json
    assert response.json == {
        "id": hug["id"],
        "sender_id": sender.id,
        "recipient_id": recipient.id,
        "type": "warm",
        "type_label": hug["type_label"],
        "created_at": hug["created_at"],
    }
    assert "between us" not in response.text


def test_users_may_not_call_it_even_for_their_own_hug(person, client):
    sender, recipient = person(), person()
    recipient.open_hugs()
    hug = sender.hug(recipient)
    for who in (sender, recipient):
        response = who.get(PATH.format(hug["id"]))
        assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert client.get(PATH.format(hug["id"])).status_code == 401


@pytest.mark.parametrize("hug_id", [str(uuid.uuid4()), "not-a-uuid", "12"])
def test_unknown_or_malformed_id_is_404(client, as_service, hug_id):
    response = client.get(PATH.format(hug_id), headers=as_service)
    assert response.status_code == 404 and response.json["code"] == "hug.not_found"


def test_query_params_are_422(person, client, as_service):
    sender, recipient = person(), person()
    recipient.open_hugs()
    hug = sender.hug(recipient)
    response = client.get(PATH.format(hug["id"]) + "?with=message", headers=as_service)
    assert response.status_code == 422 and "with" in response.json["errors"]
