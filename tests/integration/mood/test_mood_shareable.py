"""GET /internal/v1/moods/{id}/shareable: for HugMood services only, and never the note."""

from __future__ import annotations

import uuid

import pytest

PATH = "/internal/v1/moods/{}/shareable"


@pytest.fixture
def as_service(service_token):
    return {"Authorization": f"Bearer {service_token('social')}"}


def test_a_service_gets_the_shareable_fields_and_never_the_note(person, client, as_service):
    owner = person()
    mood = owner.record(note="only for me", tags=["sea"], is_public=True)
    response = client.get(PATH.format(mood["id"]), headers=as_service)
    assert response.status_code == 200, response.json
    assert response.json == {
        "id": mood["id"],
        "owner_id": owner.id,
        "is_public": True,
        "mood": "calm",
        "intensity": 0.5,
        "tags": ["sea"],
        "recorded_at": mood["recorded_at"],
    }
    assert "only for me" not in response.text

    private = owner.record(is_public=False)
    assert client.get(PATH.format(private["id"]), headers=as_service).json["is_public"] is False


def test_users_may_not_call_it_even_for_their_own_mood(person, client):
    owner = person()
    mood = owner.record(is_public=True)
    response = owner.get(PATH.format(mood["id"]))
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert client.get(PATH.format(mood["id"])).status_code == 401


@pytest.mark.parametrize("mood_id", [str(uuid.uuid4()), "not-a-uuid", "12"])
def test_unknown_or_malformed_id_is_404(client, as_service, mood_id):
    response = client.get(PATH.format(mood_id), headers=as_service)
    assert response.status_code == 404 and response.json["code"] == "mood.not_found"


def test_query_params_are_422(person, client, as_service):
    mood = person().record()
    response = client.get(PATH.format(mood["id"]) + "?with=note", headers=as_service)
    assert response.status_code == 422 and "with" in response.json["errors"]
