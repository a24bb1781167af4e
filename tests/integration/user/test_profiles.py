"""Profiles and privacy settings: who may read and write what, and what bad input gets."""

from __future__ import annotations

import uuid

import pytest

from services.user.models import Profile, db


def test_profile_is_built_on_first_read_when_the_event_has_not_arrived(person):
    alice = person()
    assert db.session.get(Profile, uuid.UUID(alice.id)) is None
    response = alice.get(f"/api/v1/users/{alice.id}")
    assert response.status_code == 200
    assert response.json["username"] == alice.username and response.json["timezone"] == "UTC"
    assert db.session.get(Profile, uuid.UUID(alice.id)) is not None


def registered(person_id: str, username: str, display_name: str) -> None:
    """UserRegistered for `person_id`, as the consumer receives it."""
    from services.user import tasks

    data = {"user_id": person_id, "username": username, "display_name": display_name}
    tasks.on_user_registered({"id": str(uuid.uuid4()), "type": "UserRegistered", "data": data})


def test_a_late_user_registered_names_a_profile_built_on_first_sight(person):
    alice = person()
    assert alice.get(f"/api/v1/users/{alice.id}").json["display_name"] == alice.username
    registered(alice.id, alice.username, "Alice at registration")
    assert alice.get(f"/api/v1/users/{alice.id}").json["display_name"] == "Alice at registration"


def test_a_late_user_registered_keeps_a_display_name_the_owner_chose(person):
    alice = person()
    assert alice.put(f"/api/v1/users/{alice.id}", json={"display_name": alice.username}).status_code == 200
    registered(alice.id, alice.username, "Alice at registration")
    assert alice.get(f"/api/v1/users/{alice.id}").json["display_name"] == alice.username


def test_me_stands_for_the_caller(person):
    alice = person()
    assert alice.get("/api/v1/users/me").json["user_id"] == alice.id


def test_any_signed_in_user_reads_a_profile(person):
    alice, bob = person(), person()
    body = bob.get(f"/api/v1/users/{alice.id}").json
    assert set(body) == {
        "user_id",
        "username",
        "display_name",
        "bio",
        "avatar_url",
        "location",
        "timezone",
        "last_active",
        "created_at",
        "updated_at",
    }


@pytest.mark.parametrize("user_id", [str(uuid.UUID(int=7)), "not-a-uuid", "12345"])
def test_unknown_or_malformed_user_gets_404(person, user_id):
    assert person().get(f"/api/v1/users/{user_id}").status_code == 404


def test_owner_updates_profile_partially(person):
    alice = person()
    response = alice.put("/api/v1/users/me", json={"bio": "Trying my best", "timezone": "Europe/Paris"})
    assert response.status_code == 200
    assert response.json["bio"] == "Trying my best" and response.json["timezone"] == "Europe/Paris"
    assert response.json["display_name"] == alice.username


def test_another_user_cannot_update_a_profile(person):
    alice, bob = person(), person()
    response = bob.put(f"/api/v1/users/{alice.id}", json={"bio": "hacked"})
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert alice.get("/api/v1/users/me").json["bio"] is None


def test_admin_updates_anyones_profile(person, token_for):
    alice = person()
    admin_token = token_for(str(uuid.uuid4()), roles=["admin", "user"])
    response = alice.client.put(
        f"/api/v1/users/{alice.id}",
        json={"display_name": "Alice (moderated)"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200 and response.json["display_name"] == "Alice (moderated)"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "utc+2"}, "timezone"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"bio": "x" * 501}, "bio"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"location": 5}, "location"),
        ({"username": "renamed"}, "username"),
        ({"user_id": str(uuid.uuid4())}, "user_id"),
    ],
)
def test_profile_update_bad_input_gets_422(person, body, field):
    response = person().put("/api/v1/users/me", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_last_active_is_hidden_when_the_owner_hides_online_status(person):
    alice, bob = person(), person()
    alice.get("/api/v1/users/me")
    assert bob.get(f"/api/v1/users/{alice.id}").json["last_active"] is not None
    alice.put("/api/v1/users/me/privacy", json={"show_online_status": False})
    assert bob.get(f"/api/v1/users/{alice.id}").json["last_active"] is None
    assert alice.get("/api/v1/users/me").json["last_active"] is not None


def test_privacy_defaults(person):
    assert person().get("/api/v1/users/me/privacy").json == {
        "share_moods_with": "friends",
        "allow_friend_requests": True,
        "show_online_status": True,
        "allow_hugs_from": "friends",
    }


def test_privacy_is_owner_only(person):
    alice, bob = person(), person()
    assert bob.get(f"/api/v1/users/{alice.id}/privacy").status_code == 403
    assert bob.put(f"/api/v1/users/{alice.id}/privacy", json={"share_moods_with": "public"}).status_code == 403
    assert alice.get("/api/v1/users/me/privacy").json["share_moods_with"] == "friends"


def test_privacy_update_is_partial(person):
    alice = person()
    body = alice.put("/api/v1/users/me/privacy", json={"share_moods_with": "public", "allow_hugs_from": "none"}).json
    assert body["share_moods_with"] == "public" and body["allow_hugs_from"] == "none"
    assert body["allow_friend_requests"] is True


@pytest.mark.parametrize(
    "body,field",
    [
        ({"share_moods_with": "everyone"}, "share_moods_with"),
        ({"allow_hugs_from": "public"}, "allow_hugs_from"),
        ({"allow_friend_requests": "yes"}, "allow_friend_requests"),
        ({"show_online_status": 1}, "show_online_status"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_privacy_bad_input_gets_422(person, body, field):
    response = person().put("/api/v1/users/me/privacy", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_bad_json_and_media_type(person):
    alice = person()
    assert alice.put("/api/v1/users/me", data=b"{", content_type="application/json").status_code == 400
    assert alice.put("/api/v1/users/me", data=b"bio=x", content_type="text/plain").status_code == 415


def test_user_registered_consumer_creates_the_profile_once(client):
    from sqlalchemy import func, select

    from services.user import tasks

    user_id = str(uuid.uuid4())
    event = {
        "id": str(uuid.uuid4()),
        "type": "UserRegistered",
        "data": {"user_id": user_id, "username": "from_event", "display_name": "From Event"},
    }
    tasks.on_user_registered(event)
    db.session.execute(
        select(Profile).where(Profile.user_id == uuid.UUID(user_id))
    ).scalar_one().display_name = "Changed"
    db.session.commit()
    tasks.on_user_registered(event)  # redelivered: acts once, so the change survives
    assert db.session.get(Profile, uuid.UUID(user_id)).display_name == "Changed"
    assert (
        db.session.execute(
            select(func.count()).select_from(Profile).where(Profile.user_id == uuid.UUID(user_id))
        ).scalar()
        == 1
    )
