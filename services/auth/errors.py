"""Errors the auth service raises, each with a stable code."""

from shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from shared.problems import page


class InvalidCredentials(Unauthorized):
    """The login or the password is wrong (one answer for both, so accounts cannot be enumerated)."""

    code = "auth.invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The login or password is incorrect.")


class InvalidRefreshToken(Unauthorized):
    """The refresh token is unknown, expired, revoked, or was already used (a reused one also revokes
    its whole login)."""

    code = "auth.invalid_refresh_token"

    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or revoked.")


class AccountTaken(Conflict):
    """A registration whose username or email is in use: one answer for either, so it does not
    tell which (the email one would confirm that an address has an account)."""

    code = "auth.account_taken"

    def __init__(self) -> None:
        super().__init__("That username or email is taken.")


class EmailTaken(Conflict):
    """An account with this email exists already; an OpenID Connect sign-in never links to it."""

    code = "auth.email_taken"


class WrongPassword(Forbidden):
    """The password given to confirm this change is wrong."""

    code = "auth.wrong_password"


class UserNotFound(NotFound):
    """No account has this id (or it was deleted)."""

    code = "auth.user_not_found"


class InvalidResetToken(ValidationFailed):
    code = "auth.invalid_reset_token"

    def __init__(self) -> None:
        super().__init__(
            "The reset token is invalid, used or expired.",
            errors={"token": ["Invalid, used or expired token."]},
        )


class InvalidVerificationToken(ValidationFailed):
    code = "auth.invalid_verification_token"

    def __init__(self) -> None:
        super().__init__(
            "The verification token is invalid, used or expired.",
            errors={"token": ["Invalid, used or expired token."]},
        )


class EmailAlreadyVerified(Conflict):
    """The account's email address is verified already."""

    code = "auth.email_already_verified"


class VerificationThrottled(TooManyRequests):
    """Three verification emails were sent in the last hour."""

    code = "auth.verification_throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many verification emails; try again later.", headers={"Retry-After": str(retry_after)})


class LoginThrottled(TooManyRequests):
    """Too many failed logins for this account (from this address, or today from new clients)."""

    code = "auth.login_throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed logins; try again later.", headers={"Retry-After": str(retry_after)})


class OAuthError(ProblemError):
    """An RFC 6749 §5.2 error from the token endpoint; rendered in that form, not problem+json."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


class UnknownProvider(NotFound):
    """No OpenID Connect provider of this name is configured."""

    code = "auth.oidc_unknown_provider"


class InvalidIdToken(Unauthorized):
    """The ID token's signature, issuer, audience or expiry did not verify, or its account is gone."""

    code = "auth.oidc_invalid_token"


class OidcEmailUnverified(Forbidden):
    """The provider did not vouch for the email address (email_verified is not true)."""

    code = "auth.oidc_email_unverified"


# Codes raised with `code=` (their pages: shared.problems).
PROBLEM_PAGES = (
    page(
        "auth.busy",
        ServiceUnavailable,
        "Too many password checks are waiting (AUTH_HASH_QUEUE); the request was shed at once.",
        "Retry after `Retry-After` seconds.",
    ),
    page(
        "auth.oidc_unavailable",
        ServiceUnavailable,
        "The sign-in provider's keys could not be fetched.",
        "Retry after a short back-off.",
    ),
)
