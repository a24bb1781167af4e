"""Shares: public, read-only links to a mood, a hug or an achievement the caller owns.

Ownership and visibility belong to the owning service: both are asked again on every read of a
shared link, so a link stops working as soon as its content is deleted or made private.

Tokens are stored raw (256 random bits, url-safe): sharing the same content again must give back
the same URL, which a hash could not rebuild; a token only ever unlocks what its owner has made
public (re-checked on every read), and revoking a share (revoked_at) kills its URL at once.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.social import errors
from services.social.models import Activity, Share, db
from shared.errors import BadGateway, GatewayTimeout
from shared.http import ServiceClient

SHARED_PATH = "/api/v1/social/shared/"
ACHIEVEMENT_ACTIVITY = "streak_milestone"
_TOKEN = re.compile(r"\A[A-Za-z0-9_-]{20,64}\Z")


@dataclass(frozen=True)
class Content:
    """What the owning service says about one piece of content, and the fields a stranger may see."""

    owners: tuple[uuid.UUID, ...]
    public: bool
    view: dict[str, Any] = field(default_factory=dict)


def _ask(client: ServiceClient, service: str, path: str) -> dict[str, Any] | None:
    """The owning service's JSON answer, None on 404; 503 when it cannot answer."""
    try:
        return client.read(service, path)
    except (BadGateway, GatewayTimeout) as exc:
        raise errors.ContentUnavailable(f"The {service} service could not answer.") from exc


def _mood(client: ServiceClient, mood_id: uuid.UUID) -> Content | None:
    """Public only if the entry is public AND its owner shares moods with everyone."""
    entry = _ask(client, "mood", f"/internal/v1/moods/{mood_id}/shareable")
    if entry is None:
        return None
    owner_id = uuid.UUID(entry["owner_id"])
    public = bool(entry["is_public"])
    if public:
        audience = _ask(client, "user", f"/internal/v1/users/{owner_id}/audience/{owner_id}")
        public = audience is not None and audience["share_moods_with"] == "public"
    view = {
        "mood": entry["mood"],
        "intensity": entry["intensity"],
        "tags": entry["tags"],
        "recorded_at": entry["recorded_at"],
    }
    return Content((owner_id,), public, view)


def _hug(client: ServiceClient, hug_id: uuid.UUID) -> Content | None:
    """Owned by its sender and its recipient; shows only its label and date (no ids, no message)."""
    hug = _ask(client, "hug", f"/internal/v1/hugs/{hug_id}/shareable")
    if hug is None:
        return None
    owners = (uuid.UUID(hug["sender_id"]), uuid.UUID(hug["recipient_id"]))
    return Content(owners, True, {"type_label": hug["type_label"], "date": hug["created_at"][:10]})


def _achievement(activity_id: uuid.UUID) -> Content | None:
    """A streak milestone activity of the social service itself; shows the days and the date."""
    activity = db.session.execute(
        select(Activity).where(Activity.id == activity_id, Activity.type == ACHIEVEMENT_ACTIVITY)
    ).scalar_one_or_none()
    if activity is None:
        return None
    days = activity.data.get("days")
    date = activity.created_at.astimezone(UTC).date().isoformat()
    return Content((activity.user_id,), activity.visibility != "private", {"days": days, "date": date})


def _content(client: ServiceClient, content_type: str, content_id: uuid.UUID) -> Content | None:
    if content_type == "mood":
        return _mood(client, content_id)
    if content_type == "hug":
        return _hug(client, content_id)
    return _achievement(content_id)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def share_url(base_url: str, token: str) -> str:
    """The public URL of a share."""
    return base_url.rstrip("/") + SHARED_PATH + token


def create_share(*, client: ServiceClient, owner_id: uuid.UUID, data: dict[str, Any]) -> tuple[Share, bool]:
    """The caller's live share of the content (created if new: True); 404 if not theirs, 409 if not public."""
    content = _content(client, data["content_type"], data["content_id"])
    if content is None or owner_id not in content.owners:
        raise errors.ContentNotFound("No such content.")
    if not content.public:
        raise errors.ContentNotPublic("Only content you have made public can be shared.")
    key = {
        "owner_id": owner_id,
        "content_type": data["content_type"],
        "content_id": data["content_id"],
        "platform": data["platform"],
    }
    inserted = db.session.execute(
        insert(Share)
        .values(id=uuid.uuid4(), token=secrets.token_urlsafe(32), created_at=datetime.now(UTC), **key)
        .on_conflict_do_nothing(
            index_elements=["owner_id", "content_type", "content_id", "platform"],
            index_where=Share.revoked_at.is_(None),
        )
        .returning(Share.id)
    ).scalar_one_or_none()
    db.session.commit()
    query = select(Share).where(*(getattr(Share, k) == v for k, v in key.items()), Share.revoked_at.is_(None))
    return db.session.execute(query).scalar_one(), inserted is not None


def shared_view(*, client: ServiceClient, token: str) -> dict[str, Any]:
    """The public fields of a live share's content; 404 once it is revoked, deleted or no longer public."""
    if not _TOKEN.match(token):
        raise errors.ShareNotFound("No such share.")
    share = db.session.execute(
        select(Share).where(Share.token == token, Share.revoked_at.is_(None))
    ).scalar_one_or_none()
    if share is None:
        raise errors.ShareNotFound("No such share.")
    content = _content(client, share.content_type, share.content_id)
    if content is None or share.owner_id not in content.owners or not content.public:
        raise errors.ShareNotFound("No such share.")
    return {"content_type": share.content_type, **content.view, "shared_at": _rfc3339(share.created_at)}


def revoke_share(*, share_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    """Revoke the owner's live share; anyone else's (or a revoked one) is 404."""
    revoked = db.session.execute(
        update(Share)
        .where(Share.id == share_id, Share.owner_id == owner_id, Share.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    if not revoked:
        raise errors.ShareNotFound("No such share.")
    db.session.commit()
