"""Request and response shapes of the auth service."""

from __future__ import annotations

from functools import lru_cache

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.api import UtcDateTime

USERNAME = validate.Regexp(r"\A[A-Za-z0-9_]{3,30}\Z", error="3-30 letters, digits or underscores.")
ROLES = ("user", "editor", "admin")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """Passwords too common to allow (zxcvbn's list of 30,000), lower-cased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def check_password(value: str) -> None:
    """NIST 800-63B: 8-128 characters, no composition rules, not a known-common password."""
    if len(value) < 8:
        raise ValidationError("Use at least 8 characters.")
    if len(value) > 128:
        raise ValidationError("Use at most 128 characters.")
    if value.lower() in common_passwords():
        raise ValidationError("This password is too common; choose another.")


class Password(fields.String):
    """A new password: validated, never echoed back."""

    def __init__(self, **kwargs):
        super().__init__(required=True, validate=check_password, load_only=True, **kwargs)


class RegisterIn(Schema):
    username = fields.String(required=True, validate=USERNAME)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = Password()
    display_name = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def _not_personal(self, data: dict, **_: object) -> None:
        password = data.get("password", "").lower()
        if password and password in {data.get("username", "").lower(), data.get("email", "").lower()}:
            raise ValidationError("The password must not be your username or email.", "password")


class OidcIn(Schema):
    id_token = fields.String(required=True, validate=validate.Length(min=1, max=16384), load_only=True)


class LoginIn(Schema):
    email = fields.String(validate=validate.Length(min=1, max=254))
    username = fields.String(validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)
    # From an earlier successful login of this account on this client: exempts it from the
    # per-account lockout (docs/architecture.md, "Login throttling").
    device_token = fields.String(validate=validate.Length(min=1, max=256), load_only=True)

    @validates_schema
    def _one_login(self, data: dict, **_: object) -> None:
        if ("email" in data) == ("username" in data):
            raise ValidationError("Give either email or username.", "_schema")


class RefreshIn(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class LogoutIn(Schema):
    refresh_token = fields.String(validate=validate.Length(min=1, max=256))


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = Password()


class AccountDeleteIn(Schema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)


class ResetRequestIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class ResetConfirmIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = Password()


class NoBody(Schema):
    """An endpoint that takes no fields (an empty body, or `{}`)."""


class EmailVerifyIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class RolesIn(Schema):
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)), required=True, validate=validate.Length(max=len(ROLES))
    )


class UserOut(Schema):
    id = fields.UUID()
    username = fields.String()
    email = fields.String()
    roles = fields.List(fields.String())
    email_verified = fields.Function(lambda user: user.email_verified_at is not None)
    created_at = UtcDateTime()
    last_login = UtcDateTime(allow_none=True)


class PublicUserOut(Schema):
    id = fields.UUID()
    username = fields.String()
    created_at = UtcDateTime()


class ContactOut(Schema):
    """Where to reach a user: for the notification service's emails only."""

    email = fields.String()
    verified = fields.Function(lambda user: user.email_verified_at is not None)


class TokenIn(Schema):
    """A token request (RFC 6749 §4.3, §6): the fields of its grant."""

    grant_type = fields.String(required=True, validate=validate.OneOf(("password", "refresh_token")))
    username = fields.String()
    password = fields.String(load_only=True)
    refresh_token = fields.String()


class TokenPairOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()


class SessionOut(TokenPairOut):
    user = fields.Nested(UserOut)


class LoginOut(SessionOut):
    device_token = fields.String()


class OAuthErrorOut(Schema):
    error = fields.String()
    error_description = fields.String()


class JwksOut(Schema):
    keys = fields.List(fields.Dict())


class AccountDeletedOut(Schema):
    user_id = fields.String()
    status = fields.String()
