"""Errors the auth service raises, each with a stable code."""

from shared.errors import Conflict, Forbidden, NotFound, ProblemError, TooManyRequests, Unauthorized, ValidationFailed


class InvalidCredentials(Unauthorized):
    code = "auth.invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The login or password is incorrect.")


class InvalidRefreshToken(Unauthorized):
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
    code = "auth.email_taken"


class WrongPassword(Forbidden):
    code = "auth.wrong_password"


class UserNotFound(NotFound):
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
    code = "auth.email_already_verified"


class VerificationThrottled(TooManyRequests):
    code = "auth.verification_throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many verification emails; try again later.", headers={"Retry-After": str(retry_after)})


class LoginThrottled(TooManyRequests):
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
    code = "auth.oidc_unknown_provider"


class InvalidIdToken(Unauthorized):
    code = "auth.oidc_invalid_token"


class OidcEmailUnverified(Forbidden):
    code = "auth.oidc_email_unverified"
