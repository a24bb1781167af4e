"""HTTP resources of the mood service."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, jsonify, request
from flask_restful import Resource

from services.mood import errors, schemas, service
from services.mood.models import USER_DATA, MoodEntry, db
from services.mood.service import content, importer, recommendations
from shared.api import Api, load_body, load_query, parse_id
from shared.audience import AudienceSource
from shared.auth import current_identity, current_user_id, require_service
from shared.conditional import answer, etag_of, precondition
from shared.datarights import add_data_rights_resources
from shared.openapi import operation

PUBLIC_ENDPOINTS: tuple[str, ...] = ()
UPLOAD_ENDPOINTS = ("mood_import",)

_mood = schemas.Mood()
_moods = schemas.Mood(many=True)
_shareable = schemas.ShareableMood()
_insight = schemas.Insight()
_insights = schemas.Insight(many=True)
_item = schemas.ContentItem()
_items = schemas.ContentItem(many=True)
_recommendations = schemas.Recommendation(many=True)


def _audiences() -> AudienceSource:
    return current_app.extensions["mood_audience"]


def _audience_of(owner_id: uuid.UUID) -> service.Audience:
    return service.audience(_audiences(), owner_id, current_user_id())


def _owner(raw: str) -> uuid.UUID:
    return parse_id(current_identity().user_id if raw == "me" else raw, errors.MoodNotFound, "No such user.")


_SEE = (errors.MoodNotFound,)


class MoodListResource(Resource):
    @operation(
        "Record a mood",
        body=schemas.MoodCreate,
        response=schemas.Mood,
        status=201,
        location=True,
        example={"mood": "calm", "intensity": 0.6, "valence": 0.7, "tags": ["walk"], "is_public": True},
    )
    def post(self) -> Response:
        entry = service.record(user_id=current_user_id(), data=load_body(schemas.MoodCreate()))
        response = jsonify(_mood.dump(entry))
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/moods/{entry.id}"
        return response


def _etag(entry: MoodEntry) -> str:
    return etag_of(_mood.dump(entry))


class MoodResource(Resource):
    @operation(
        "One mood entry",
        description="The owner sees it always; others only when it is public and the owner's privacy admits them.",
        response=schemas.Mood,
        errors=_SEE,
        conditional=True,
    )
    def get(self, mood_id: str) -> Response:
        entry = service.read(
            mood_id=parse_id(mood_id, errors.MoodNotFound, "No such mood."),
            viewer_id=current_user_id(),
            audience_of=_audience_of,
        )
        return answer(_mood.dump(entry), _etag(entry))

    @operation(
        "Change a mood entry (owner; any subset of the fields)",
        body=schemas.MoodUpdate,
        response=schemas.Mood,
        errors=(*_SEE, errors.NotYourMood),
        conditional=True,
    )
    def put(self, mood_id: str) -> Response:
        check = precondition(_etag)
        data = load_body(schemas.MoodUpdate())
        entry = service.change(
            mood_id=parse_id(mood_id, errors.MoodNotFound, "No such mood."),
            viewer_id=current_user_id(),
            data=data,
            audience_of=_audience_of,
            precondition=check,
        )
        return answer(_mood.dump(entry), _etag(entry))

    @operation("Delete a mood entry (owner)", status=204, errors=(*_SEE, errors.NotYourMood), conditional=True)
    def delete(self, mood_id: str) -> Response:
        check = precondition(_etag)
        service.remove(
            mood_id=parse_id(mood_id, errors.MoodNotFound, "No such mood."),
            viewer_id=current_user_id(),
            audience_of=_audience_of,
            precondition=check,
        )
        return Response(status=204)


class UserMoodsResource(Resource):
    @operation(
        "A user's mood entries, newest first",
        description="A non-owner sees only the entries visible to them.",
        query=schemas.MoodListArgs,
        page=schemas.Mood,
        errors=_SEE,
    )
    def get(self, user_id: str) -> Response:
        args = load_query(schemas.MoodListArgs())
        audience = _audience_of(_owner(user_id))
        items, cursor = service.history(audience=audience, args=args)
        return jsonify({"items": _moods.dump(items), "next_cursor": cursor})


class AnalyticsResource(Resource):
    @operation(
        "Mood analytics of a user over a period (in the owner's time zone)",
        query=schemas.AnalyticsArgs,
        response=schemas.Analytics,
        errors=_SEE,
    )
    def get(self, user_id: str) -> Response:
        args = load_query(schemas.AnalyticsArgs())
        audience = _audience_of(_owner(user_id))
        document = service.analytics(
            user_id=audience.owner_id, timezone=audience.timezone, period=args["period"], scope=audience.scope
        )
        return Response(document, mimetype="application/json")


class StreakResource(Resource):
    @operation(
        "A user's current and longest streak, in calendar days of their time zone",
        query=schemas.StreakArgs,
        response=schemas.Streak,
        errors=_SEE,
    )
    def get(self, user_id: str) -> Response:
        load_query(schemas.StreakArgs())
        audience = _audience_of(_owner(user_id))
        result = service.streak(user_id=audience.owner_id, timezone=audience.timezone, scope=audience.scope)
        last = result["last_entry_date"]
        return jsonify(
            {
                "current_streak": result["current_streak"],
                "longest_streak": result["longest_streak"],
                "last_entry_date": last.isoformat() if last else None,
                "timezone": audience.timezone,
            }
        )


def _own(user_id: str) -> service.Audience:
    """The owner's own audience (their time zone); another user's analytics are 403."""
    audience = _audience_of(_owner(user_id))
    if not audience.is_owner:
        raise errors.NotYourAnalytics("Only the owner may read these analytics.")
    return audience


_OWNERS = (errors.MoodNotFound, errors.NotYourAnalytics)


def _owners_figures(compute: Any, user_id: str) -> Response:
    """One of the owner's analytics documents for `?period=` (correlations, patterns)."""
    args = load_query(schemas.AnalyticsPeriodArgs())
    audience = _own(user_id)
    return jsonify(
        compute(
            user_id=audience.owner_id,
            timezone=audience.timezone,
            period=args["period"],
            min_days=current_app.config["HUGMOOD"].MOOD_ANALYTICS_MIN_DAYS,
        )
    )


class CorrelationsResource(Resource):
    @operation(
        "The owner's daily valence with and without each factor (owner only)",
        description="Welch's t per factor (tags, weekdays, parts of the day, hugs received and sent), "
        "with Benjamini-Hochberg q-values over the user's factors; factors under the minimum days on "
        "either side are listed under insufficient_data, never as findings.",
        query=schemas.AnalyticsPeriodArgs,
        response=schemas.Correlations,
        errors=_OWNERS,
    )
    def get(self, user_id: str) -> Response:
        return _owners_figures(service.correlations, user_id)


class PatternsResource(Resource):
    @operation(
        "The owner's weekly and daily cycles, trend, volatility and low spells (owner only)",
        query=schemas.AnalyticsPeriodArgs,
        response=schemas.Patterns,
        errors=_OWNERS,
    )
    def get(self, user_id: str) -> Response:
        return _owners_figures(service.patterns, user_id)


class InsightListResource(Resource):
    @operation(
        "The owner's insights, newest first (owner only)",
        description="Made in the background after new entries or hugs, never on this read.",
        query=schemas.InsightListArgs,
        page=schemas.Insight,
        errors=_OWNERS,
    )
    def get(self, user_id: str) -> Response:
        page = load_query(schemas.InsightListArgs())
        audience = _own(user_id)
        items, cursor = service.insights.list_insights(user_id=audience.owner_id, page=page)
        return jsonify({"items": _insights.dump(items), "next_cursor": cursor})


class InsightReadResource(Resource):
    @operation(
        "Mark one of the caller's insights read",
        query=schemas.NoArgs,
        response=schemas.Insight,
        errors=(errors.InsightNotFound,),
    )
    def put(self, insight_id: str) -> Response:
        load_query(schemas.NoArgs())
        insight = service.insights.mark_read(
            insight_id=parse_id(insight_id, errors.InsightNotFound, "No such insight."), user_id=current_user_id()
        )
        return jsonify(_insight.dump(insight))


def _content_id(raw: str) -> uuid.UUID:
    return parse_id(raw, errors.ContentNotFound, "No such content item.")


def _page(items: list[Any], cursor: str | None) -> Response:
    return jsonify({"items": _items.dump(items), "next_cursor": cursor})


def _created(document: dict[str, Any], location: str) -> Response:
    response = jsonify(document)
    response.status_code = 201
    response.headers["Location"] = location
    return response


class MoodImportResource(Resource):
    """A Daylio or generic CSV, as the multipart field `file`, read from the upload as a stream."""

    @operation(
        "Import moods from a Daylio or generic CSV (multipart field `file`)",
        description="At most 20,000 rows and 8 MiB; importing the same file again creates nothing new; "
        "each rejected row is listed with its line number. `dry_run=true` reports without creating.",
        query=schemas.ImportArgs,
        upload=True,
        response=schemas.ImportResult,
        errors=(errors.ImportInvalid, errors.ImportTooLong),
    )
    def post(self) -> Response:
        args = load_query(schemas.ImportArgs())
        upload = request.files.get("file")
        if upload is None:
            raise errors.ImportInvalid("Send the CSV as the multipart field `file`.", errors={"file": ["Required."]})
        with upload.stream:
            user_id = current_user_id()
            timezone = service.audience(_audiences(), user_id, user_id).timezone
            document = importer.import_moods(
                user_id=user_id, stream=upload.stream, timezone=timezone, dry_run=args["dry_run"]
            )
        return jsonify(document)


class ContentListResource(Resource):
    @operation("Published content items", query=schemas.ContentListArgs, page=schemas.ContentItem)
    def get(self) -> Response:
        return _page(*content.listing(args=load_query(schemas.ContentListArgs())))

    @operation(
        "Create a content item (editor or admin)",
        body=schemas.ContentCreate,
        response=schemas.ContentItem,
        status=201,
        location=True,
        errors=(errors.NotAnEditor,),
    )
    def post(self) -> Response:
        content.require_editor(current_identity())
        entry = content.create(data=load_body(schemas.ContentCreate()))
        return _created(_item.dump(entry), f"/api/v1/content/{entry.id}")


_ITEM = (errors.ContentNotFound,)
_EDIT = (errors.ContentNotFound, errors.NotAnEditor)


class ContentResource(Resource):
    @operation(
        "One content item (drafts and archived ones: editors and admins only)",
        query=schemas.NoArgs,
        response=schemas.ContentItem,
        errors=_ITEM,
    )
    def get(self, content_id: str) -> Response:
        load_query(schemas.NoArgs())
        return jsonify(_item.dump(content.item(content_id=_content_id(content_id), identity=current_identity())))

    @operation(
        "Change a content item (editor or admin)",
        body=schemas.ContentUpdate,
        response=schemas.ContentItem,
        errors=_EDIT,
    )
    def put(self, content_id: str) -> Response:
        identity = current_identity()
        content.require_editor(identity)
        data = load_body(schemas.ContentUpdate())
        return jsonify(_item.dump(content.change(content_id=_content_id(content_id), identity=identity, data=data)))

    @operation("Delete a content item (editor or admin)", status=204, errors=_EDIT)
    def delete(self, content_id: str) -> Response:
        identity = current_identity()
        content.require_editor(identity)
        content.remove(content_id=_content_id(content_id), identity=identity)
        return Response(status=204)


class ContentCategoriesResource(Resource):
    @operation("The content library's category tree", query=schemas.NoArgs, response=schemas.CategoryTree)
    def get(self) -> Response:
        load_query(schemas.NoArgs())
        return jsonify({"items": content.category_tree()})


class ContentByMoodResource(Resource):
    @operation("Published content items for a mood", query=schemas.ContentListArgs, page=schemas.ContentItem)
    def get(self, mood: str) -> Response:
        args = schemas.ContentListArgs().load({**request.args.to_dict(), "mood": mood})
        return _page(*content.listing(args=args))


class ContentInteractionsResource(Resource):
    @operation(
        "Record what the caller did with an item: view, bookmark, unbookmark, complete, dismiss",
        body=schemas.InteractionCreate,
        response=schemas.Interaction,
        status=201,
        location=True,
        errors=_ITEM,
    )
    def post(self, content_id: str) -> Response:
        data = load_body(schemas.InteractionCreate())
        interaction = content.interact(user_id=current_user_id(), content_id=_content_id(content_id), data=data)
        return _created(schemas.Interaction().dump(interaction), f"/api/v1/content/{interaction.content_id}")


class ContentBookmarksResource(Resource):
    @operation("The caller's bookmarked items", query=schemas.PageArgs, page=schemas.ContentItem)
    def get(self) -> Response:
        return _page(*content.bookmarks(user_id=current_user_id(), page=load_query(schemas.PageArgs())))


class RecommendationsResource(Resource):
    """The owner's own recommendations: another user gets 403, an unknown one 404."""

    @operation(
        "Content for the owner's recent moods and what helped them, each with its reason (owner only)",
        query=schemas.RecommendationArgs,
        page=schemas.Recommendation,
        errors=_OWNERS,
    )
    def get(self, user_id: str) -> Response:
        args = load_query(schemas.RecommendationArgs())
        owner = _own(user_id).owner_id
        found = recommendations.recommend(
            user_id=owner, helped_tags=recommendations.tags_that_helped(owner), limit=args["limit"]
        )
        items = [{**_item.dump(r.item), "reason": r.reason, "score": r.score} for r in found]
        return jsonify({"items": items, "next_cursor": None})


def _export(user_id: str) -> dict[str, Any]:
    """The caller's export section; their time zone (for the streak) from their own audience."""
    owner = uuid.UUID(user_id)
    return service.export_account(user_id, timezone=service.audience(_audiences(), owner, owner).timezone)


class ShareableMoodResource(Resource):
    """Internal: what a shared mood may show publicly (never the note), for the social service."""

    @operation(
        "Internal: what a shared mood may show", query=schemas.NoArgs, response=schemas.ShareableMood, errors=_SEE
    )
    def get(self, mood_id: str) -> Response:
        require_service()
        load_query(schemas.NoArgs())
        return jsonify(
            _shareable.dump(service.shareable(mood_id=parse_id(mood_id, errors.MoodNotFound, "No such mood.")))
        )


def register_resources(api: Api) -> None:
    """Mount the mood resources under /api/v1/moods, the analytics ones under /api/v1/analytics,
    the internal one under /internal/v1/moods, and the data-rights ones (the caller's export, an
    admin's erasure report) under /internal/v1."""
    prefix = "/api/v1/moods"
    api.add_resource(MoodListResource, prefix, endpoint="moods")
    api.add_resource(MoodImportResource, f"{prefix}/import", endpoint="mood_import")
    api.add_resource(UserMoodsResource, f"{prefix}/user/<user_id>", endpoint="user_moods")
    api.add_resource(AnalyticsResource, f"{prefix}/analytics/<user_id>", endpoint="analytics")
    api.add_resource(StreakResource, f"{prefix}/streak/<user_id>", endpoint="streak")
    api.add_resource(MoodResource, f"{prefix}/<mood_id>", endpoint="mood")
    analytics = "/api/v1/analytics"
    api.add_resource(CorrelationsResource, f"{analytics}/correlations/<user_id>", endpoint="correlations")
    api.add_resource(PatternsResource, f"{analytics}/patterns/<user_id>", endpoint="patterns")
    api.add_resource(InsightListResource, f"{analytics}/insights/<user_id>", endpoint="insights")
    api.add_resource(InsightReadResource, f"{analytics}/insights/<insight_id>/read", endpoint="insight_read")
    api.add_resource(ShareableMoodResource, "/internal/v1/moods/<mood_id>/shareable", endpoint="mood_shareable")
    library = "/api/v1/content"
    api.add_resource(ContentListResource, library, endpoint="content")
    api.add_resource(ContentCategoriesResource, f"{library}/categories", endpoint="content_categories")
    api.add_resource(ContentBookmarksResource, f"{library}/bookmarks", endpoint="content_bookmarks")
    api.add_resource(ContentByMoodResource, f"{library}/by-mood/<mood>", endpoint="content_by_mood")
    api.add_resource(ContentResource, f"{library}/<content_id>", endpoint="content_item")
    api.add_resource(
        ContentInteractionsResource, f"{library}/<content_id>/interactions", endpoint="content_interactions"
    )
    api.add_resource(RecommendationsResource, "/api/v1/analytics/recommendations/<user_id>", endpoint="recommendations")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, _export)
