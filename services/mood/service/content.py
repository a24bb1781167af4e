"""The content library: published items for everyone, every state for editors, and what users do
with items (interactions, bookmarks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from services.mood import errors
from services.mood.models import ContentBookmark, ContentCategory, ContentInteraction, ContentItem, db
from shared.auth import Identity
from shared.errors import ValidationFailed
from shared.pagination import paginate

EDITOR_ROLES = frozenset({"editor", "admin"})


def is_editor(identity: Identity) -> bool:
    """Editors and admins write items and see drafts and archived ones."""
    return not identity.is_service and bool(EDITOR_ROLES.intersection(identity.roles))


def require_editor(identity: Identity) -> None:
    if not is_editor(identity):
        raise errors.NotAnEditor("Only editors and admins may write content.")


def published() -> Any:
    """The query of every published item."""
    return select(ContentItem).where(ContentItem.status == "published")


def listing(*, args: dict[str, Any]) -> tuple[list[ContentItem], str | None]:
    """Published items, newest first, narrowed by type, category, tag and mood."""
    query = published()
    if "type" in args:
        query = query.where(ContentItem.type == args["type"])
    for column, name in ((ContentItem.categories, "category"), (ContentItem.tags, "tag")):
        if name in args:
            query = query.where(column.contains([args[name].strip().lower()]))
    if "mood" in args:
        query = query.where(ContentItem.related_moods.contains([args["mood"].strip().lower()]))
    return paginate(db.session, query, time_column=ContentItem.published_at, id_column=ContentItem.id, page=args)


def item(*, content_id: uuid.UUID, identity: Identity) -> ContentItem:
    """One item: published ones for anyone; drafts and archived ones for editors only (404 for
    others, who may not know they exist)."""
    found = db.session.get(ContentItem, content_id)
    if found is None or (found.status != "published" and not is_editor(identity)):
        raise errors.ContentNotFound("No such content item.")
    return found


def category_tree() -> list[dict[str, Any]]:
    """Every category as a tree: `{slug, name, children}`, in catalogue order."""
    rows = db.session.execute(
        select(ContentCategory).order_by(ContentCategory.position, ContentCategory.slug)
    ).scalars()
    nodes: dict[str, dict[str, Any]] = {}
    parents: list[tuple[str | None, str]] = []
    for row in rows:
        nodes[row.slug] = {"slug": row.slug, "name": row.name, "children": []}
        parents.append((row.parent, row.slug))
    roots = []
    for parent, slug in parents:
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[slug])
    return roots


def _check_categories(slugs: list[str]) -> None:
    if not slugs:
        return
    known = set(db.session.execute(select(ContentCategory.slug).where(ContentCategory.slug.in_(slugs))).scalars())
    unknown = [slug for slug in slugs if slug not in known]
    if unknown:
        raise ValidationFailed(
            "Unknown category.", errors={"categories": [f"No such category: {slug}." for slug in unknown]}
        )


def _apply(entry: ContentItem, data: dict[str, Any]) -> None:
    _check_categories(data.get("categories", []))
    for field, value in data.items():
        setattr(entry, field, value.strip() if field == "title" else value)
    now = datetime.now(UTC)
    if entry.status == "published" and entry.published_at is None:
        entry.published_at = now
    entry.updated_at = now


def create(*, data: dict[str, Any]) -> ContentItem:
    entry = ContentItem(id=uuid.uuid4(), tags=[], categories=[], related_moods=[], summary="", body="")
    _apply(entry, data)
    db.session.add(entry)
    db.session.commit()
    return entry


def change(*, content_id: uuid.UUID, identity: Identity, data: dict[str, Any]) -> ContentItem:
    entry = item(content_id=content_id, identity=identity)
    _apply(entry, data)
    db.session.commit()
    return entry


def remove(*, content_id: uuid.UUID, identity: Identity) -> None:
    """Delete an item, and with it every interaction and bookmark that points at it."""
    db.session.delete(item(content_id=content_id, identity=identity))
    db.session.commit()


def interact(*, user_id: uuid.UUID, content_id: uuid.UUID, data: dict[str, Any]) -> ContentInteraction:
    """Record what the user did with a published item; a bookmark or unbookmark also sets the
    bookmark (repeating either changes nothing more)."""
    found = db.session.get(ContentItem, content_id)
    if found is None or found.status != "published":
        raise errors.ContentNotFound("No such content item.")
    kind, now = data["type"], datetime.now(UTC)
    if kind == "bookmark":
        db.session.execute(
            insert(ContentBookmark)
            .values(user_id=user_id, content_id=content_id, created_at=now)
            .on_conflict_do_nothing()
        )
    elif kind == "unbookmark":
        db.session.execute(
            delete(ContentBookmark).where(ContentBookmark.user_id == user_id, ContentBookmark.content_id == content_id)
        )
    interaction = ContentInteraction(
        id=uuid.uuid4(), user_id=user_id, content_id=content_id, type=kind, seconds=data.get("seconds"), created_at=now
    )
    db.session.add(interaction)
    db.session.commit()
    return interaction


def bookmarks(*, user_id: uuid.UUID, page: dict[str, Any]) -> tuple[list[ContentItem], str | None]:
    """The user's bookmarked items that are still published, most recently bookmarked first."""
    query = (
        select(ContentItem, ContentBookmark.created_at, ContentBookmark.content_id)
        .join(ContentBookmark, ContentBookmark.content_id == ContentItem.id)
        .where(ContentBookmark.user_id == user_id, ContentItem.status == "published")
    )
    rows, cursor = paginate(
        db.session, query, time_column=ContentBookmark.created_at, id_column=ContentBookmark.content_id, page=page
    )
    return [row[0] for row in rows], cursor


def held_by(user_id: uuid.UUID) -> dict[str, list[Any]]:
    """The user's interactions and bookmarks, oldest first (their data export)."""
    interactions = db.session.execute(
        select(ContentInteraction)
        .where(ContentInteraction.user_id == user_id)
        .order_by(ContentInteraction.created_at, ContentInteraction.id)
    ).scalars()
    kept = db.session.execute(
        select(ContentBookmark).where(ContentBookmark.user_id == user_id).order_by(ContentBookmark.created_at)
    ).scalars()
    return {"interactions": list(interactions), "bookmarks": list(kept)}
