"""HTTP resources of the user service."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, jsonify
from flask_restful import Resource

from services.user import errors, schemas, service
from services.user.models import USER_DATA, Privacy, Profile, db
from shared.api import Api, load_body, load_query, parse_id
from shared.auth import current_identity, current_user_id, require_service
from shared.conditional import answer, etag_of, precondition
from shared.datarights import add_data_rights_resources
from shared.openapi import operation

PUBLIC_ENDPOINTS: tuple[str, ...] = ()

_profile_out = schemas.ProfileOut()
_profiles_out = schemas.ProfileOut(many=True)
_privacy_out = schemas.PrivacyOut()
_friend_out = schemas.FriendOut(many=True)
_summary_out = schemas.UserSummary(many=True)


def _lookup() -> service.AuthLookup:
    return service.auth_lookup_via(current_app.extensions["service_client"])


def _target(raw: str) -> uuid.UUID:
    caller = current_user_id()
    return caller if raw == "me" else parse_id(raw, errors.UserNotFound)


def _profile(profile: Profile) -> dict[str, Any]:
    """The profile as the caller sees it."""
    return _profile_out.dump(service.profile_view(profile, viewer_id=current_user_id()))


def _profile_etag(representation: dict[str, Any]) -> str:
    return etag_of(representation, aside=("last_active",))  # moved by activity, not by edits


def _privacy_etag(privacy: Privacy) -> str:
    return etag_of(_privacy_out.dump(privacy))


class UserResource(Resource):
    @operation(
        "A user's profile",
        description="`last_active` only if the owner shows their online status.",
        response=schemas.ProfileOut,
        errors=(errors.UserNotFound,),
        conditional=True,
    )
    def get(self, user_id: str) -> Response:
        profile = _profile(service.get_profile(_target(user_id), auth_lookup=_lookup()))
        return answer(profile, _profile_etag(profile))

    @operation(
        "Change a profile (owner or admin; any subset of the fields)",
        body=schemas.ProfileUpdate,
        response=schemas.ProfileOut,
        errors=(errors.UserNotFound, errors.NotYourProfile),
        conditional=True,
        example={"display_name": "Sam", "bio": "Morning walks.", "timezone": "Europe/Berlin"},
    )
    def put(self, user_id: str) -> Response:
        identity = current_identity()
        check = precondition(lambda profile: _profile_etag(_profile(profile)))
        data = load_body(schemas.ProfileUpdate())
        profile = _profile(
            service.update_profile(
                user_id=_target(user_id),
                caller_id=current_user_id(),
                caller_is_admin=identity.is_admin,
                data=data,
                auth_lookup=_lookup(),
                precondition=check,
            )
        )
        return answer(profile, _profile_etag(profile))


class UsersResource(Resource):
    """Several profiles at once (`?ids=a,b,c`), each as the single read shows it to the caller."""

    @operation(
        "Several users' profiles at once (at most 100 ids)",
        description="Each profile as the single read shows it to the caller; ids no user has are "
        "listed under `missing`.",
        query=schemas.BatchArgs,
        response=schemas.ProfileBatch,
    )
    def get(self) -> Response:
        args = load_query(schemas.BatchArgs())
        ids = list(dict.fromkeys(uuid.UUID(raw) for raw in args["ids"].split(",")))
        profiles, missing = service.get_profiles(ids, auth_lookup=_lookup())
        views = service.profile_views(profiles, viewer_id=current_user_id())
        return jsonify({"items": _profiles_out.dump(views), "missing": [str(m) for m in missing]})


class PrivacyResource(Resource):
    def _owner(self, user_id: str) -> uuid.UUID:
        target = _target(user_id)
        if target != current_user_id():
            service.get_profile(target, auth_lookup=_lookup())  # an unknown user is 404, as everywhere
            raise errors.NotYourProfile("Only the owner may see or change privacy settings.")
        return target

    @operation(
        "The owner's privacy settings",
        response=schemas.PrivacyOut,
        errors=(errors.UserNotFound, errors.NotYourProfile),
        conditional=True,
    )
    def get(self, user_id: str) -> Response:
        privacy = service.get_privacy(self._owner(user_id), auth_lookup=_lookup())
        return answer(_privacy_out.dump(privacy), _privacy_etag(privacy))

    @operation(
        "Change the owner's privacy settings (any subset)",
        body=schemas.PrivacyIn,
        response=schemas.PrivacyOut,
        errors=(errors.UserNotFound, errors.NotYourProfile),
        conditional=True,
        example={"share_moods_with": "friends", "allow_hugs_from": "anyone"},
    )
    def put(self, user_id: str) -> Response:
        owner = self._owner(user_id)
        check = precondition(_privacy_etag)
        data = load_body(schemas.PrivacyIn())
        privacy = service.update_privacy(user_id=owner, data=data, auth_lookup=_lookup(), precondition=check)
        return answer(_privacy_out.dump(privacy), _privacy_etag(privacy))


class FriendsResource(Resource):
    @operation(
        "A user's friends; the owner may ask for pending requests or blocks",
        query=schemas.FriendsArgs,
        page=schemas.FriendOut,
        errors=(errors.UserNotFound, errors.NotYourProfile),
    )
    def get(self, user_id: str) -> Response:
        args = load_query(schemas.FriendsArgs())
        target = _target(user_id)
        service.get_profile(target, auth_lookup=_lookup())
        items, cursor = service.list_relations(
            owner_id=target,
            caller_id=current_user_id(),
            status=args["status"],
            limit=args["limit"],
            cursor=args["cursor"],
        )
        return jsonify({"items": _friend_out.dump(items), "next_cursor": cursor})

    @operation(
        "Ask user {user_id} to be friends",
        description="201 pending; 200 accepted when they had already asked the caller.",
        body=schemas.FriendRequestIn,
        response=schemas.FriendStatus,
        status=(201, 200),
        location=True,
        errors=(
            errors.UserNotFound,
            errors.NotYourself,
            errors.Blocked,
            errors.FriendRequestsClosed,
            errors.AlreadyConnected,
        ),
    )
    def post(self, user_id: str) -> Response:
        load_body(schemas.FriendRequestIn())
        target = _target(user_id)
        status = service.request_friendship(caller_id=current_user_id(), target_id=target, auth_lookup=_lookup())
        body = {"user_id": str(target), "status": status}
        response = Response(
            jsonify(body).get_data(), status=201 if status == "pending" else 200, mimetype="application/json"
        )
        if status == "pending":  # the request made, which the caller may withdraw there
            response.headers["Location"] = f"/api/v1/users/me/friends/{target}"
        return response


class FriendResource(Resource):
    def _pair(self, user_id: str, other_id: str) -> tuple[uuid.UUID, uuid.UUID]:
        caller = current_user_id()
        if _target(user_id) != caller:
            raise errors.NotYourProfile("You can only answer or remove your own relations.")
        return caller, parse_id(other_id, errors.UserNotFound)

    @operation(
        "Answer a friend request, or block anyone (`user_id` is `me`)",
        body=schemas.FriendAnswer,
        response=schemas.FriendStatus,
        errors=(
            errors.NotYourProfile,
            errors.UserNotFound,
            errors.NotYourself,
            errors.AlreadyConnected,
            errors.NoSuchRequest,
        ),
    )
    def put(self, user_id: str, other_id: str) -> Response:
        caller, other = self._pair(user_id, other_id)
        data = load_body(schemas.FriendAnswer())
        status = service.answer(caller_id=caller, other_id=other, status=data["status"], auth_lookup=_lookup())
        return jsonify({"user_id": str(other), "status": status})

    @operation(
        "Unfriend, withdraw a request, or unblock (`user_id` is `me`)",
        status=204,
        errors=(errors.NotYourProfile, errors.UserNotFound, errors.NoSuchRequest),
    )
    def delete(self, user_id: str, other_id: str) -> Response:
        caller, other = self._pair(user_id, other_id)
        service.remove(caller_id=caller, other_id=other)
        return Response(status=204)


class SearchResource(Resource):
    @operation(
        "Find users by username or display name (never one who blocked the caller)",
        query=schemas.SearchArgs,
        page=schemas.UserSummary,
    )
    def get(self) -> Response:
        args = load_query(schemas.SearchArgs())
        found, cursor = service.search(
            caller_id=current_user_id(), q=args["q"], limit=args["limit"], cursor=args["cursor"]
        )
        return jsonify({"items": _summary_out.dump(found), "next_cursor": cursor})


class AudienceResource(Resource):
    """Internal: privacy, friendship and blocks between an owner and a viewer, for other services."""

    @operation(
        "Internal: privacy, friendship and blocks between an owner and a viewer",
        response={"type": "object", "additionalProperties": True},
        errors=(errors.UserNotFound,),
    )
    def get(self, owner_id: str, viewer_id: str) -> Response:
        require_service()
        owner, viewer = parse_id(owner_id, errors.UserNotFound), parse_id(viewer_id, errors.UserNotFound)
        return jsonify(service.audience(owner_id=owner, viewer_id=viewer, auth_lookup=_lookup()))


def register_resources(api: Api) -> None:
    """Mount the user resources under /api/v1/users, the internal ones under /internal/v1/users, and
    the data-rights ones (the caller's export, an admin's erasure report) under /internal/v1."""
    prefix = "/api/v1/users"
    api.add_resource(UsersResource, prefix, endpoint="users")
    api.add_resource(SearchResource, f"{prefix}/search", endpoint="search")
    api.add_resource(UserResource, f"{prefix}/<user_id>", endpoint="user")
    api.add_resource(PrivacyResource, f"{prefix}/<user_id>/privacy", endpoint="privacy")
    api.add_resource(FriendsResource, f"{prefix}/<user_id>/friends", endpoint="friends")
    api.add_resource(FriendResource, f"{prefix}/<user_id>/friends/<other_id>", endpoint="friend")
    api.add_resource(AudienceResource, "/internal/v1/users/<owner_id>/audience/<viewer_id>", endpoint="audience")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, service.export_account)
