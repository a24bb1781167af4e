"""HTTP resources of the hug service."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from flask_restful import Resource

from services.hug import errors, schemas, service
from services.hug.models import USER_DATA, db
from shared.api import Api, load_body, load_query, parse_id
from shared.audience import AudienceSource
from shared.auth import current_user_id, require_service
from shared.conditional import answer, etag_of
from shared.datarights import add_data_rights_resources
from shared.openapi import operation

PUBLIC_ENDPOINTS: tuple[str, ...] = ()
PREFIX = "/api/v1/hugs"

_hug = schemas.Hug()
_hugs = schemas.Hug(many=True)
_request = schemas.HugRequest()
_requests = schemas.HugRequest(many=True)
_group = schemas.GroupHug()
_groups = schemas.GroupHug(many=True)
_shareable = schemas.ShareableHug()


def _audience() -> AudienceSource:
    return current_app.extensions["hug_audience"]


def _created(body: dict, location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


class HugTypesResource(Resource):
    @operation("The catalogue of hug types", query=schemas.TypesArgs, response=schemas.HugTypes)
    def get(self) -> Response:
        load_query(schemas.TypesArgs())
        return jsonify({"items": service.hug_types()})


class HugListResource(Resource):
    @operation(
        "Send a hug",
        description="The recipient is notified (in-app, push, email as their preferences say).",
        body=schemas.HugCreate,
        response=schemas.Hug,
        status=201,
        location=True,
        errors=(errors.UserNotFound, errors.HugsNotAccepted, errors.HugToSelf, errors.HugFlood),
        example={"recipient_id": "0b6f3c1e-6d2a-4a57-9a43-3f1d2b8e7c55", "type": "warm", "message": "Thinking of you"},
    )
    def post(self) -> Response:
        settings = current_app.config["HUGMOOD"]
        hug = service.hugs.send(
            sender_id=current_user_id(),
            data=load_body(schemas.HugCreate()),
            audience=_audience(),
            flood_limit=settings.HUG_FLOOD_LIMIT,
            flood_window_seconds=settings.HUG_FLOOD_WINDOW_SECONDS,
        )
        return _created(_hug.dump(hug), f"{PREFIX}/{hug.id}")


class ReceivedResource(Resource):
    @operation("Hugs the caller received, newest first", query=schemas.ReceivedArgs, page=schemas.Hug)
    def get(self) -> Response:
        items, cursor = service.hugs.received(user_id=current_user_id(), args=load_query(schemas.ReceivedArgs()))
        return jsonify({"items": _hugs.dump(items), "next_cursor": cursor})


class SentResource(Resource):
    @operation("Hugs the caller sent, newest first", query=schemas.SentArgs, page=schemas.Hug)
    def get(self) -> Response:
        items, cursor = service.hugs.sent(user_id=current_user_id(), args=load_query(schemas.SentArgs()))
        return jsonify({"items": _hugs.dump(items), "next_cursor": cursor})


class HugResource(Resource):
    @operation("One hug (its sender and recipient only)", response=schemas.Hug, errors=(errors.HugNotFound,))
    def get(self, hug_id: str) -> Response:
        hug = _hug.dump(service.hugs.read(hug_id=parse_id(hug_id, errors.HugNotFound), viewer_id=current_user_id()))
        return answer(hug, etag_of(hug))


class HugReadResource(Resource):
    @operation(
        "Mark a received hug read (recipient)",
        response=schemas.Hug,
        errors=(errors.HugNotFound, errors.NotTheRecipient),
    )
    def put(self, hug_id: str) -> Response:
        hug = service.hugs.mark_read(hug_id=parse_id(hug_id, errors.HugNotFound), viewer_id=current_user_id())
        return jsonify(_hug.dump(hug))


class ShareableHugResource(Resource):
    """Internal: what a shared hug may show (never the message), for the social service."""

    @operation(
        "Internal: what a shared hug may show",
        query=schemas.NoArgs,
        response=schemas.ShareableHug,
        errors=(errors.HugNotFound,),
    )
    def get(self, hug_id: str) -> Response:
        require_service()
        load_query(schemas.NoArgs())
        hug = service.hugs.shareable(hug_id=parse_id(hug_id, errors.HugNotFound))
        return jsonify(_shareable.dump(hug))


class HugRequestListResource(Resource):
    @operation(
        "Ask for a hug",
        description="Without `recipient_id` it is a community request any signed-in user may answer.",
        body=schemas.HugRequestCreate,
        response=schemas.HugRequest,
        status=201,
        location=True,
        errors=(errors.UserNotFound, errors.HugsNotAccepted, errors.HugToSelf, errors.HugRequestFlood),
    )
    def post(self) -> Response:
        settings = current_app.config["HUGMOOD"]
        request = service.hug_requests.create(
            requester_id=current_user_id(),
            data=load_body(schemas.HugRequestCreate()),
            audience=_audience(),
            flood_limit=settings.HUG_REQUEST_FLOOD_LIMIT,
            flood_window_seconds=settings.HUG_FLOOD_WINDOW_SECONDS,
        )
        return _created(_request.dump(request), f"{PREFIX}/request/{request.id}")


class HugRequestsResource(Resource):
    @operation("Hug requests to or from the caller", query=schemas.HugRequestListArgs, page=schemas.HugRequest)
    def get(self) -> Response:
        items, cursor = service.hug_requests.listing(
            user_id=current_user_id(), args=load_query(schemas.HugRequestListArgs()), audience=_audience()
        )
        return jsonify({"items": _requests.dump(items), "next_cursor": cursor})


class HugRequestResource(Resource):
    @operation(
        "Answer a hug request (its recipient, or anyone for a community request)",
        description="Accepting sends the requester a hug.",
        body=schemas.HugRequestAnswer,
        response=schemas.HugRequest,
        errors=(
            errors.HugRequestNotFound,
            errors.OwnRequest,
            errors.CommunityDecline,
            errors.RequestAlreadyAnswered,
            errors.HugsNotAccepted,
            errors.UserNotFound,
        ),
    )
    def put(self, request_id: str) -> Response:
        request = service.hug_requests.answer(
            request_id=parse_id(request_id, errors.HugRequestNotFound),
            responder_id=current_user_id(),
            data=load_body(schemas.HugRequestAnswer()),
            audience=_audience(),
        )
        return jsonify(_request.dump(request))


class GroupHugListResource(Resource):
    @operation(
        "Group hugs the caller created or was invited to, newest first",
        description="Each with its participants and when each joined (null until they do).",
        query=schemas.GroupHugListArgs,
        page=schemas.GroupHug,
    )
    def get(self) -> Response:
        items, cursor = service.groups.listing(user_id=current_user_id(), args=load_query(schemas.GroupHugListArgs()))
        return jsonify({"items": _groups.dump(service.groups.views(items)), "next_cursor": cursor})

    @operation(
        "Start a group hug; the invitees are notified",
        body=schemas.GroupHugCreate,
        response=schemas.GroupHug,
        status=201,
        location=True,
        errors=(errors.HugToSelf, errors.UnknownInvitees, errors.HugsNotAccepted, errors.GroupInviteFlood),
    )
    def post(self) -> Response:
        settings = current_app.config["HUGMOOD"]
        group = service.groups.create(
            creator_id=current_user_id(),
            data=load_body(schemas.GroupHugCreate()),
            audience=_audience(),
            flood_limit=settings.GROUP_INVITE_FLOOD_LIMIT,
            flood_window_seconds=settings.HUG_FLOOD_WINDOW_SECONDS,
        )
        return _created(_group.dump(service.groups.view(group)), f"{PREFIX}/group/{group.id}")


class GroupHugResource(Resource):
    @operation("One group hug (creator and participants)", response=schemas.GroupHug, errors=(errors.GroupHugNotFound,))
    def get(self, group_id: str) -> Response:
        group = service.groups.read(group_id=parse_id(group_id, errors.GroupHugNotFound), viewer_id=current_user_id())
        body = _group.dump(service.groups.view(group))
        return answer(body, etag_of(body))


class GroupHugJoinResource(Resource):
    @operation(
        "Join a group hug (an invitee)",
        description="The group hug completes when every invitee has joined.",
        response=schemas.GroupHug,
        errors=(errors.GroupHugNotFound, errors.AlreadyJoined, errors.GroupHugClosed),
    )
    def put(self, group_id: str) -> Response:
        group = service.groups.join(group_id=parse_id(group_id, errors.GroupHugNotFound), user_id=current_user_id())
        return jsonify(_group.dump(service.groups.view(group)))


def register_resources(api: Api) -> None:
    """Mount the hug resources under /api/v1/hugs (fixed paths before the /{id} ones), and the
    internal data-rights ones."""
    api.add_resource(HugListResource, PREFIX, endpoint="hugs")
    api.add_resource(HugTypesResource, f"{PREFIX}/types", endpoint="hug_types")
    api.add_resource(ReceivedResource, f"{PREFIX}/received", endpoint="hugs_received")
    api.add_resource(SentResource, f"{PREFIX}/sent", endpoint="hugs_sent")
    api.add_resource(HugRequestListResource, f"{PREFIX}/request", endpoint="hug_request_create")
    api.add_resource(HugRequestsResource, f"{PREFIX}/requests", endpoint="hug_requests")
    api.add_resource(HugRequestResource, f"{PREFIX}/request/<request_id>", endpoint="hug_request")
    api.add_resource(GroupHugListResource, f"{PREFIX}/group", endpoint="group_hugs")
    api.add_resource(GroupHugResource, f"{PREFIX}/group/<group_id>", endpoint="group_hug")
    api.add_resource(GroupHugJoinResource, f"{PREFIX}/group/<group_id>/join", endpoint="group_hug_join")
    api.add_resource(HugResource, f"{PREFIX}/<hug_id>", endpoint="hug")
    api.add_resource(HugReadResource, f"{PREFIX}/<hug_id>/read", endpoint="hug_read")
    api.add_resource(ShareableHugResource, "/internal/v1/hugs/<hug_id>/shareable", endpoint="hug_shareable")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, service.export_account)
