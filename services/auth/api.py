"""HTTP resources of the auth service."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, current_app, jsonify, request
from flask_restful import Resource
from marshmallow import ValidationError

from services.auth import errors, schemas, service
from services.auth.models import USER_DATA, db
from services.auth.service import oidc
from services.auth.service.revocations import RecordedDenylist
from shared.api import Api, load_body
from shared.auth import Denylist, current_claims, current_identity, require_admin, require_service
from shared.conditional import answer, etag_of
from shared.datarights import add_data_rights_resources
from shared.errors import Forbidden
from shared.openapi import operation

_user_out = schemas.UserOut()
_public_user_out = schemas.PublicUserOut()
_contact_out = schemas.ContactOut()


def _ctx() -> Any:
    return current_app.extensions["auth"]


def _denylist() -> Denylist:
    return RecordedDenylist(current_app.extensions["redis"])


def client_ip() -> str:
    """The client address as the gateway resolved it (it overwrites any X-Real-IP a client sends)."""
    return (request.headers.get("X-Real-IP") or request.remote_addr or "unknown").strip()[:64]


def _session_body(user: Any, pair: service.TokenPair) -> dict[str, Any]:
    return {"user": _user_out.dump(user), **pair.as_dict()}


def _no_store(response: Response, status: int = 200) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _created(response: Response, user: Any) -> Response:
    """A new account's 201 points at the user it made (its profile, in the user service)."""
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return response


_BUSY = (503, "auth.busy")  # password hashing shed load (AUTH_HASH_QUEUE)
_OAUTH_ERROR = {
    "description": "An RFC 6749 §5.2 error (not problem+json): `invalid_request`, `invalid_grant`, "
    "`invalid_client`, `unsupported_grant_type`, or (429) `slow_down` with Retry-After.",
    "content": {"application/json": {"schema": schemas.OAuthErrorOut}},
}


class RegisterResource(Resource):
    @operation(
        "Create an account; answers with a first token pair",
        description="A verification email is sent to the address.",
        body=schemas.RegisterIn,
        response=schemas.SessionOut,
        status=201,
        location=True,
        errors=(errors.AccountTaken, _BUSY),
        example={"username": "sam", "email": "sam@example.com", "password": "a quiet morning walk"},
    )
    def post(self) -> Response:
        data = load_body(schemas.RegisterIn())
        user, pair = service.register(data=data, kid=_ctx().key.kid)
        return _created(_no_store(jsonify(_session_body(user, pair)), 201), user)


class LoginResource(Resource):
    @operation(
        "Sign in with a username or email and a password",
        description="Keep the answer's `device_token` and send it with the next login: a known device "
        "is not locked out while someone else guesses the password.",
        body=schemas.LoginIn,
        response=schemas.LoginOut,
        errors=(errors.InvalidCredentials, errors.LoginThrottled, _BUSY),
        example={"username": "sam", "password": "a quiet morning walk"},
    )
    def post(self) -> Response:
        data = load_body(schemas.LoginIn())
        user, pair, device_token = service.login(
            login=data.get("email") or data["username"],
            password=data["password"],
            ip=client_ip(),
            throttle=_ctx().throttle,
            kid=_ctx().key.kid,
            devices=_ctx().devices,
            device_token=data.get("device_token"),
        )
        return _no_store(jsonify({**_session_body(user, pair), "device_token": device_token}))


class OidcResource(Resource):
    @operation(
        "Sign in with an OpenID Connect ID token (201 when it creates the account)",
        body=schemas.OidcIn,
        response=schemas.SessionOut,
        status=(200, 201),
        location=True,
        path={"provider": "A configured provider's name (AUTH_OIDC_PROVIDERS)."},
        errors=(
            errors.UnknownProvider,
            errors.InvalidIdToken,
            errors.OidcEmailUnverified,
            errors.EmailTaken,
            (503, "auth.oidc_unavailable"),
        ),
    )
    def post(self, provider: str) -> Response:
        data = load_body(schemas.OidcIn())
        verified, claims = _ctx().id_tokens.verify(provider, data["id_token"])
        user, pair, created = oidc.sign_in(provider=verified, claims=claims, kid=_ctx().key.kid)
        response = _no_store(jsonify(_session_body(user, pair)), 201 if created else 200)
        return _created(response, user) if created else response


class RefreshResource(Resource):
    @operation(
        "Trade a refresh token for a new pair",
        description="The old refresh token stops working. Presenting one that was already rotated "
        "revokes every token of that login (reuse detection).",
        body=schemas.RefreshIn,
        response=schemas.TokenPairOut,
        errors=(errors.InvalidRefreshToken,),
    )
    def post(self) -> Response:
        data = load_body(schemas.RefreshIn())
        pair = service.rotate_refresh_token(
            refresh_token=data["refresh_token"], denylist=_denylist(), kid=_ctx().key.kid
        )
        return _no_store(jsonify(pair.as_dict()))


def _oauth_error(error: errors.OAuthError) -> Response:
    response = jsonify({"error": error.error, "error_description": error.detail})
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="hugmood"'
    return _no_store(response, error.status)


def _client_credentials(params: dict[str, Any]) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        except (binascii.Error, UnicodeDecodeError):
            raise errors.OAuthError("invalid_client", "Malformed client credentials.", 401) from None
    return str(params.get("client_id", "")), str(params.get("client_secret", ""))


class TokenResource(Resource):
    """OAuth 2.0 token endpoint (RFC 6749 §4.3, §4.4, §6), errors in RFC 6749 §5.2 form."""

    @operation(
        "OAuth 2.0 token endpoint: grant_type password or refresh_token",
        description="Form-encoded or JSON. Errors are RFC 6749 objects, not problem+json. Through the "
        "gateway, `client_credentials` is refused (400 `unsupported_grant_type`).",
        body=schemas.TokenIn,
        form=True,
        response=schemas.TokenPairOut,
        errors=(_BUSY,),
        responses={400: _OAUTH_ERROR, 401: _OAUTH_ERROR, 429: _OAUTH_ERROR},
    )
    def post(self) -> Response:
        if request.mimetype == "application/x-www-form-urlencoded":
            params: Any = request.form.to_dict()
        else:
            params = request.get_json(silent=True) or {}
        if not isinstance(params, dict):
            return _oauth_error(errors.OAuthError("invalid_request", "The body must be an object."))
        try:
            return _no_store(jsonify(self._grant(params).as_dict()))
        except errors.OAuthError as exc:
            return _oauth_error(exc)
        except (errors.InvalidCredentials, errors.InvalidRefreshToken) as exc:
            return _oauth_error(errors.OAuthError("invalid_grant", exc.detail))
        except errors.LoginThrottled as exc:
            response = _oauth_error(errors.OAuthError("slow_down", exc.detail, 429))
            response.headers.update(exc.headers)
            return response

    def _grant(self, params: dict[str, Any]) -> service.TokenPair:
        grant = params.get("grant_type")
        if not isinstance(grant, str) or not grant:
            raise errors.OAuthError("invalid_request", "grant_type is required.")
        kid = _ctx().key.kid
        if grant == "password":
            try:
                data = schemas.LoginIn().load({"username": params.get("username"), "password": params.get("password")})
            except ValidationError:
                raise errors.OAuthError("invalid_request", "username and password are required.") from None
            return service.login(
                login=data["username"],
                password=data["password"],
                ip=client_ip(),
                throttle=_ctx().throttle,
                kid=kid,
                devices=_ctx().devices,
            )[1]
        if grant == "refresh_token":
            token = params.get("refresh_token")
            if not isinstance(token, str) or not token:
                raise errors.OAuthError("invalid_request", "refresh_token is required.")
            return service.rotate_refresh_token(refresh_token=token, denylist=_denylist(), kid=kid)
        if grant == "client_credentials":
            client_id, secret = _client_credentials(params)
            return service.service_token(
                client_id=client_id, client_secret=secret, clients=_ctx().service_clients, kid=kid
            )
        raise errors.OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported.")


class LogoutResource(Resource):
    @operation(
        "Sign out: this access token and its whole login stop working at once", body=schemas.LogoutIn, status=204
    )
    def post(self) -> Response:
        load_body(schemas.LogoutIn())
        service.logout(claims=current_claims(), denylist=_denylist())
        return Response(status=204)


class PasswordResource(Resource):
    @operation(
        "Change the password; every other session is revoked",
        body=schemas.PasswordChangeIn,
        status=204,
        errors=(errors.WrongPassword, errors.UserNotFound, _BUSY),
    )
    def put(self) -> Response:
        data = load_body(schemas.PasswordChangeIn())
        service.change_password(
            user_id=current_identity().user_id,
            family_id=current_claims().get("fam"),
            current=data["current_password"],
            new=data["new_password"],
            denylist=_denylist(),
        )
        return Response(status=204)


class AccountResource(Resource):
    @operation(
        "Delete the account and all its data in every service",
        description="Tokens stop working at once; every service then erases the user's rows.",
        body=schemas.AccountDeleteIn,
        response=schemas.AccountDeletedOut,
        status=202,
        errors=(errors.WrongPassword, errors.LoginThrottled, errors.UserNotFound, _BUSY),
    )
    def delete(self) -> Response:
        data = load_body(schemas.AccountDeleteIn())
        user_id = service.delete_account(
            user_id=current_identity().user_id,
            password=data["password"],
            ip=client_ip(),
            throttle=_ctx().throttle,
            denylist=_denylist(),
        )
        return _no_store(jsonify({"user_id": user_id, "status": "deleting"}), 202)


class PasswordResetResource(Resource):
    @operation(
        "Ask for a password-reset email (202 whether or not the address has an account)",
        body=schemas.ResetRequestIn,
        status=202,
    )
    def post(self) -> Response:
        data = load_body(schemas.ResetRequestIn())
        service.request_password_reset(email=data["email"])
        return Response(status=202)


class PasswordResetConfirmResource(Resource):
    @operation(
        "Set a new password with a reset token; every session is revoked",
        body=schemas.ResetConfirmIn,
        status=204,
        errors=(errors.InvalidResetToken, _BUSY),
    )
    def post(self) -> Response:
        data = load_body(schemas.ResetConfirmIn())
        service.confirm_password_reset(token=data["token"], password=data["password"], denylist=_denylist())
        return Response(status=204)


class EmailVerifyResource(Resource):
    @operation(
        "Confirm the email address with the token from the verification email",
        body=schemas.EmailVerifyIn,
        status=204,
        errors=(errors.InvalidVerificationToken,),
    )
    def post(self) -> Response:
        data = load_body(schemas.EmailVerifyIn())
        service.verification.confirm(token=data["token"])
        return Response(status=204)


class EmailVerifyResendResource(Resource):
    @operation(
        "Send the verification email again (3 an hour)",
        body=schemas.NoBody,
        status=202,
        errors=(errors.EmailAlreadyVerified, errors.VerificationThrottled, errors.UserNotFound),
    )
    def post(self) -> Response:
        load_body(schemas.NoBody())
        service.verification.resend(user_id=current_identity().user_id)
        return Response(status=202)


class MeResource(Resource):
    @operation("The caller's account", response=schemas.UserOut, errors=(errors.UserNotFound,))
    def get(self) -> Response:
        me = _user_out.dump(service.read_user(current_identity().user_id))
        return answer(me, etag_of(me))


class JwksResource(Resource):
    @operation("The public keys that verify access tokens (RFC 7517)", response=schemas.JwksOut)
    def get(self) -> Response:
        response = jsonify({"keys": [_ctx().key.public_jwk]})
        response.headers["Cache-Control"] = "public, max-age=300"
        return response


class RolesResource(Resource):
    @operation(
        "Set a user's roles (admins); their tokens must be refreshed to carry them",
        body=schemas.RolesIn,
        response=schemas.UserOut,
        errors=(Forbidden, errors.UserNotFound),
        example={"roles": ["admin"]},
    )
    def put(self, user_id: str) -> Response:
        admin = require_admin()
        data = load_body(schemas.RolesIn())
        target = admin.user_id if user_id == "me" else user_id  # API.md: `me` wherever a path takes a user id
        user = service.set_roles(user_id=target, roles=data["roles"], denylist=_denylist())
        return jsonify(_user_out.dump(user))


class InternalUserResource(Resource):
    """For other services only: who a user id is (the user service builds profiles from it)."""

    @operation("Internal: who a user id is", response=schemas.PublicUserOut, errors=(Forbidden, errors.UserNotFound))
    def get(self, user_id: str) -> Response:
        require_service()
        return jsonify(_public_user_out.dump(service.read_user(user_id)))


class InternalContactResource(Resource):
    """For the notification service only: the address its emails go to, read when each is sent."""

    @operation(
        "Internal, notification service: a user's email address",
        response=schemas.ContactOut,
        errors=(Forbidden, errors.UserNotFound),
    )
    def get(self, user_id: str) -> Response:
        require_service("notification")
        return jsonify(_contact_out.dump(service.read_user(user_id)))


PUBLIC_ENDPOINTS = (
    "register",
    "login",
    "token",
    "refresh",
    "password_reset",
    "password_reset_confirm",
    "email_verify",
    "jwks",
    "oauth",
)
FORM_ENDPOINTS = ("token",)


def register_resources(api: Api) -> None:
    """Mount every auth resource under /api/v1/auth."""
    prefix = "/api/v1/auth"
    api.add_resource(RegisterResource, f"{prefix}/register", endpoint="register")
    api.add_resource(LoginResource, f"{prefix}/login", endpoint="login")
    api.add_resource(TokenResource, f"{prefix}/token", endpoint="token")
    api.add_resource(RefreshResource, f"{prefix}/refresh", endpoint="refresh")
    api.add_resource(OidcResource, f"{prefix}/oauth/<provider>", endpoint="oauth")
    api.add_resource(LogoutResource, f"{prefix}/logout", endpoint="logout")
    api.add_resource(PasswordResource, f"{prefix}/password", endpoint="password")
    api.add_resource(PasswordResetResource, f"{prefix}/password/reset", endpoint="password_reset")
    api.add_resource(
        PasswordResetConfirmResource, f"{prefix}/password/reset/confirm", endpoint="password_reset_confirm"
    )
    api.add_resource(EmailVerifyResource, f"{prefix}/email/verify", endpoint="email_verify")
    api.add_resource(EmailVerifyResendResource, f"{prefix}/email/verify/resend", endpoint="email_verify_resend")
    api.add_resource(MeResource, f"{prefix}/me", endpoint="me")
    api.add_resource(AccountResource, f"{prefix}/account", endpoint="account")
    add_data_rights_resources(api, USER_DATA, lambda: db.session, service.export_account)
    api.add_resource(JwksResource, f"{prefix}/jwks", endpoint="jwks")
    api.add_resource(RolesResource, f"{prefix}/users/<user_id>/roles", endpoint="roles")
    api.add_resource(InternalUserResource, "/internal/v1/auth/users/<user_id>", endpoint="internal_user")
    api.add_resource(InternalContactResource, "/internal/v1/auth/users/<user_id>/contact", endpoint="internal_contact")
