"""HTTP resources of the social service."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask_restful import Resource

from services.social import schemas, service
from shared.api import Api, load_body, load_query
from shared.auth import current_identity

PUBLIC_ENDPOINTS: tuple[str, ...] = ()

_activity = schemas.Activity()
_activities = schemas.Activity(many=True)
_recommendations = schemas.Recommendation(many=True)


def _viewer() -> uuid.UUID:
    return uuid.UUID(current_identity().user_id)


class ActivityListResource(Resource):
    def post(self) -> Response:
        activity = service.create(user_id=_viewer(), data=load_body(schemas.ActivityCreate()))
        response = jsonify(_activity.dump(activity))
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/social/activities/{activity.id}"
        return response


class ActivityResource(Resource):
    def get(self, activity_id: str) -> Response:
        activity = service.read(activity_id=service.parse_id(activity_id), viewer_id=_viewer())
        return jsonify(_activity.dump(activity))

    def delete(self, activity_id: str) -> Response:
        service.remove(activity_id=service.parse_id(activity_id), viewer_id=_viewer())
        return Response(status=204)


class FeedResource(Resource):
    def get(self) -> Response:
        items, cursor = service.feed(viewer_id=_viewer(), args=load_query(schemas.FeedArgs()))
        return jsonify({"items": _activities.dump(items), "next_cursor": cursor})


class FriendsActivityResource(Resource):
    def get(self) -> Response:
        items, cursor = service.friends_activity(viewer_id=_viewer(), args=load_query(schemas.FeedArgs()))
        return jsonify({"items": _activities.dump(items), "next_cursor": cursor})


class RecommendationsResource(Resource):
    def get(self) -> Response:
        args = load_query(schemas.RecommendationArgs())
        items = service.recommendations(user_id=_viewer(), limit=args["limit"])
        return jsonify({"items": _recommendations.dump(items)})


def register_resources(api: Api) -> None:
    """Mount the social resources under /api/v1/social."""
    prefix = "/api/v1/social"
    api.add_resource(ActivityListResource, f"{prefix}/activities", endpoint="activities")
    api.add_resource(ActivityResource, f"{prefix}/activities/<activity_id>", endpoint="activity")
    api.add_resource(FeedResource, f"{prefix}/feed", endpoint="feed")
    api.add_resource(FriendsActivityResource, f"{prefix}/friends-activity", endpoint="friends_activity")
    api.add_resource(RecommendationsResource, f"{prefix}/recommendations", endpoint="recommendations")
