"""HTTP resources of the social service."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask_restful import Resource

from services.social import errors, schemas, service
from services.social.models import USER_DATA, db
from shared.api import Api, load_body, load_query, parse_id
from shared.auth import current_user_id
from shared.conditional import answer, etag_of
from shared.datarights import add_data_rights_resources
from shared.http import ServiceClient
from shared.openapi import operation

# Reachable without a token: a shared link is opened by anyone who has it.
PUBLIC_ENDPOINTS: tuple[str, ...] = ("shared_view",)

# What a shared link shows: the kind of content, when it was shared, and what that content may show.
SHARED_VIEW = {
    "type": "object",
    "required": ["content_type", "shared_at"],
    "properties": {"content_type": {"enum": list(schemas.SHARE_CONTENT_TYPES)}, "shared_at": {"type": "string"}},
    "additionalProperties": True,
}

_activity = schemas.Activity()
_activities = schemas.Activity(many=True)
_recommendations = schemas.Recommendation(many=True)
_share = schemas.Share()


class ActivityListResource(Resource):
    @operation(
        "Post an activity",
        body=schemas.ActivityCreate,
        response=schemas.Activity,
        status=201,
        location=True,
        example={"type": "milestone", "data": {"days": 7}, "visibility": "friends"},
    )
    def post(self) -> Response:
        activity = service.create(user_id=current_user_id(), data=load_body(schemas.ActivityCreate()))
        response = jsonify(_activity.dump(activity))
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/social/activities/{activity.id}"
        return response


class ActivityResource(Resource):
    @operation("One activity (those who may see it)", response=schemas.Activity, errors=(errors.ActivityNotFound,))
    def get(self, activity_id: str) -> Response:
        activity = service.read(
            activity_id=parse_id(activity_id, errors.ActivityNotFound, "No such activity."), viewer_id=current_user_id()
        )
        body = _activity.dump(activity)
        return answer(body, etag_of(body))

    @operation("Delete an activity (its owner)", status=204, errors=(errors.ActivityNotFound,))
    def delete(self, activity_id: str) -> Response:
        service.remove(
            activity_id=parse_id(activity_id, errors.ActivityNotFound, "No such activity."), viewer_id=current_user_id()
        )
        return Response(status=204)


class FeedResource(Resource):
    @operation(
        "The caller's feed: their own activities and others' they may see, newest first",
        query=schemas.FeedArgs,
        page=schemas.Activity,
    )
    def get(self) -> Response:
        items, cursor = service.feed(viewer_id=current_user_id(), args=load_query(schemas.FeedArgs()))
        return jsonify({"items": _activities.dump(items), "next_cursor": cursor})


class FriendsActivityResource(Resource):
    @operation("Friends' activities only, newest first", query=schemas.FeedArgs, page=schemas.Activity)
    def get(self) -> Response:
        items, cursor = service.friends_activity(viewer_id=current_user_id(), args=load_query(schemas.FeedArgs()))
        return jsonify({"items": _activities.dump(items), "next_cursor": cursor})


class RecommendationsResource(Resource):
    @operation(
        "People the caller may know, by mutual friends",
        query=schemas.RecommendationArgs,
        response=schemas.Recommendations,
    )
    def get(self) -> Response:
        args = load_query(schemas.RecommendationArgs())
        items = service.recommendations(user_id=current_user_id(), limit=args["limit"])
        return jsonify({"items": _recommendations.dump(items)})


def _client() -> ServiceClient:
    return current_app.extensions["service_client"]


def _base_url() -> str:
    return current_app.config["HUGMOOD"].SOCIAL_PUBLIC_BASE_URL


def _share_out(share: Any) -> dict[str, Any]:
    """The share as its owner sees it: the token only inside share_url."""
    return {**_share.dump(share), "share_url": service.share_url(_base_url(), share.token)}


def _export(user_id: str) -> dict[str, Any]:
    """The caller's social section of their data export."""
    return service.export_account(user_id, base_url=_base_url())


class ShareListResource(Resource):
    @operation(
        "Share content the caller owns; the answer's share_url opens a public view",
        body=schemas.ShareCreate,
        response=schemas.Share,
        status=(201, 200),
        errors=(errors.ContentNotFound, errors.ContentNotPublic, errors.ContentUnavailable),
    )
    def post(self) -> Response:
        data = load_body(schemas.ShareCreate())
        share, created = service.create_share(client=_client(), owner_id=current_user_id(), data=data)
        response = jsonify(_share_out(share))
        response.status_code = 201 if created else 200
        return response


class ShareResource(Resource):
    @operation("Revoke a share (owner)", status=204, errors=(errors.ShareNotFound,))
    def delete(self, share_id: str) -> Response:
        service.revoke_share(
            share_id=parse_id(share_id, errors.ShareNotFound, "No such share."), owner_id=current_user_id()
        )
        return Response(status=204)


class SharedViewResource(Resource):
    """Public: the read-only view of a shared link. Its query string is not read: platforms append
    their own parameters (fbclid, utm_*) to links they pass on, and refusing them broke real shares."""

    @operation(
        "The public view a share_url opens",
        description="Any query string is ignored (platforms append their own parameters to links).",
        response=SHARED_VIEW,
        path={"token": "The share's token, from its share_url."},
        errors=(errors.ShareNotFound, errors.ContentUnavailable),
    )
    def get(self, token: str) -> Response:
        return jsonify(service.shared_view(client=_client(), token=token))


def register_resources(api: Api) -> None:
    """Mount the social resources under /api/v1/social, and the data-rights ones under /internal/v1."""
    prefix = "/api/v1/social"
    api.add_resource(ActivityListResource, f"{prefix}/activities", endpoint="activities")
    api.add_resource(ActivityResource, f"{prefix}/activities/<activity_id>", endpoint="activity")
    api.add_resource(FeedResource, f"{prefix}/feed", endpoint="feed")
    api.add_resource(FriendsActivityResource, f"{prefix}/friends-activity", endpoint="friends_activity")
    api.add_resource(RecommendationsResource, f"{prefix}/recommendations", endpoint="recommendations")
    api.add_resource(ShareListResource, f"{prefix}/share", endpoint="shares")
    api.add_resource(ShareResource, f"{prefix}/share/<share_id>", endpoint="share")
    api.add_resource(SharedViewResource, f"{prefix}/shared/<token>", endpoint="shared_view")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, _export)
