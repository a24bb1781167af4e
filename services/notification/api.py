"""HTTP resources of the notification service."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask_restful import Resource

from services.notification import errors, schemas, service
from services.notification.models import USER_DATA, db
from shared.api import Api, load_body, load_query, parse_id
from shared.auth import current_user_id
from shared.conditional import answer, etag_of, precondition
from shared.datarights import add_data_rights_resources
from shared.openapi import operation
from shared.wake import POLL_CHECK_PATH, POLL_WAIT_HEADER

PUBLIC_ENDPOINTS: tuple[str, ...] = ()

_notification = schemas.Notification()
_notifications = schemas.Notification(many=True)
_device = schemas.Device()
_devices = schemas.Device(many=True)


class NotificationListResource(Resource):
    @operation(
        "The caller's notifications, newest first", query=schemas.NotificationListArgs, page=schemas.Notification
    )
    def get(self) -> Response:
        args = load_query(schemas.NotificationListArgs())
        items, cursor = service.inbox.listing(user_id=current_user_id(), args=args)
        return jsonify({"items": _notifications.dump(items), "next_cursor": cursor})


_NOT_FOUND = (errors.NotificationNotFound,)


def _etag(item: Any) -> str:
    return etag_of(_notification.dump(item))


class NotificationResource(Resource):
    @operation("One notification (owner)", query=schemas.NoArgs, response=schemas.Notification, errors=_NOT_FOUND)
    def get(self, notification_id: str) -> Response:
        load_query(schemas.NoArgs())
        item = service.inbox.read(
            notification_id=parse_id(notification_id, errors.NotificationNotFound, "No such notification."),
            user_id=current_user_id(),
        )
        return answer(_notification.dump(item), _etag(item))

    @operation("Delete a notification (owner)", status=204, errors=_NOT_FOUND)
    def delete(self, notification_id: str) -> Response:
        service.inbox.remove(
            notification_id=parse_id(notification_id, errors.NotificationNotFound, "No such notification."),
            user_id=current_user_id(),
            precondition=precondition(_etag),
        )
        return Response(status=204)


class NotificationReadResource(Resource):
    @operation(
        "Mark a notification read (owner)", body=schemas.NoArgs, response=schemas.Notification, errors=_NOT_FOUND
    )
    def put(self, notification_id: str) -> Response:
        load_body(schemas.NoArgs())
        item = service.inbox.mark_read(
            notification_id=parse_id(notification_id, errors.NotificationNotFound, "No such notification."),
            user_id=current_user_id(),
        )
        body = _notification.dump(item)
        return answer(body, etag_of(body))


class ReadAllResource(Resource):
    @operation("Mark every notification of the caller read", body=schemas.NoArgs, response=schemas.ReadAll)
    def put(self) -> Response:
        load_body(schemas.NoArgs())
        return jsonify({"updated": service.inbox.mark_all_read(user_id=current_user_id())})


class PollResource(Resource):
    """A long poll made directly to this service: held here until a wake-up or the timeout."""

    @operation(
        "Long poll for new notifications",
        description=(
            "Answers at once with every notification newer than `cursor`, oldest first; if there are "
            "none, holds the request until one arrives or `timeout` seconds pass, then answers with no "
            "items and the same cursor. Without a cursor: the unread ones, at once. Poll again with "
            "the cursor of each answer and nothing created between two polls is missed."
        ),
        query=schemas.PollArgs,
        response=schemas.PollAnswer,
    )
    def get(self) -> Response:
        args = load_query(schemas.PollArgs())
        body = service.poll(
            user_id=current_user_id(),
            cursor=args["cursor"],
            timeout=args["timeout"],
            hub=current_app.extensions["notification_wake"],
            dump=_notifications.dump,
        )
        return jsonify(body)


class PollCheckResource(Resource):
    """Internal, for the gateway, which holds the client's poll: the same question and the same
    answer, but never held. `X-Poll-Wait` tells the gateway how long it may hold the poll for the
    caller's wake-up before asking again: the poll's timeout when there is nothing newer than its
    cursor, else 0 (answer now)."""

    @operation(
        "Internal, for the gateway: a poll's check, never held", query=schemas.PollArgs, response=schemas.PollAnswer
    )
    def get(self) -> Response:
        args = load_query(schemas.PollArgs())
        body = service.poll(
            user_id=current_user_id(), cursor=args["cursor"], timeout=0, hub=None, dump=_notifications.dump
        )
        response = jsonify(body)
        hold = args["cursor"] is not None and not body["items"]
        response.headers[POLL_WAIT_HEADER] = str(args["timeout"] if hold else 0)
        return response


class PreferencesResource(Resource):
    @operation(
        "The caller's notification preferences", query=schemas.NoArgs, response=schemas.Preferences, conditional=True
    )
    def get(self) -> Response:
        load_query(schemas.NoArgs())
        preferences = service.preferences.get(current_user_id())
        return answer(preferences, etag_of(preferences))

    @operation(
        "Change any part of the caller's notification preferences",
        description="Quiet hours are in the owner's time zone; they hold back push, not in-app or email.",
        body=schemas.PreferencesUpdate,
        response=schemas.Preferences,
        conditional=True,
        example={"types": {"hug_received": {"push": False}}, "quiet_hours": {"start": "22:00", "end": "07:00"}},
    )
    def put(self) -> Response:
        check = precondition(etag_of)
        change = load_body(schemas.PreferencesUpdate())
        preferences = service.preferences.update(current_user_id(), change, check)
        return answer(preferences, etag_of(preferences))


class DeviceListResource(Resource):
    @operation("The caller's push devices", query=schemas.NoArgs, response=schemas.Devices)
    def get(self) -> Response:
        load_query(schemas.NoArgs())
        return jsonify({"items": _devices.dump(service.devices.listing(user_id=current_user_id()))})

    @operation(
        "Register a push device (the same token again: 200, no duplicate)",
        body=schemas.DeviceCreate,
        response=schemas.Device,
        status=(201, 200),
        location=True,
        errors=(errors.DeviceTokenTaken,),
    )
    def post(self) -> Response:
        device, created = service.devices.register(user_id=current_user_id(), data=load_body(schemas.DeviceCreate()))
        response = jsonify(_device.dump(device))
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"/api/v1/devices/{device.id}"
        return response


class DeviceResource(Resource):
    @operation("Remove a push device (owner)", status=204, errors=(errors.DeviceNotFound,))
    def delete(self, device_id: str) -> Response:
        service.devices.remove(
            device_id=parse_id(device_id, errors.DeviceNotFound, "No such device."), user_id=current_user_id()
        )
        return Response(status=204)


def register_resources(api: Api) -> None:
    """Mount the notification resources under /api/v1/notifications and /api/v1/devices, and the
    internal data-rights ones."""
    prefix = "/api/v1/notifications"
    api.add_resource(NotificationListResource, prefix, endpoint="notifications")
    api.add_resource(PollResource, f"{prefix}/poll", endpoint="poll")
    api.add_resource(PollCheckResource, POLL_CHECK_PATH, endpoint="poll_check")
    api.add_resource(PreferencesResource, f"{prefix}/preferences", endpoint="preferences")
    api.add_resource(ReadAllResource, f"{prefix}/read-all", endpoint="read_all")
    api.add_resource(NotificationResource, f"{prefix}/<notification_id>", endpoint="notification")
    api.add_resource(NotificationReadResource, f"{prefix}/<notification_id>/read", endpoint="notification_read")
    api.add_resource(DeviceListResource, "/api/v1/devices", endpoint="devices")
    api.add_resource(DeviceResource, "/api/v1/devices/<device_id>", endpoint="device")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, service.export_account)
