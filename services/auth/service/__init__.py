"""Auth business logic: accounts, passwords, token families, resets, roles."""

from services.auth.service import verification
from services.auth.service.account import export_account
from services.auth.service.accounts import (
    authenticate,
    change_password,
    confirm_password_reset,
    delete_account,
    ensure_admin,
    find_by_login,
    get_user,
    login,
    read_user,
    register,
    request_password_reset,
    set_roles,
)
from services.auth.service.keys import SigningKey, generate_private_key_pem
from services.auth.service.passwords import PasswordHashing, passwords
from services.auth.service.throttle import DeviceTokens, LoginThrottle
from services.auth.service.tokens import (
    TokenPair,
    access_token_for,
    logout,
    parse_service_clients,
    revoke_families,
    rotate_refresh_token,
    service_token,
    start_session,
    token_hash,
)

__all__ = [
    "DeviceTokens",
    "LoginThrottle",
    "PasswordHashing",
    "SigningKey",
    "TokenPair",
    "access_token_for",
    "authenticate",
    "change_password",
    "confirm_password_reset",
    "delete_account",
    "ensure_admin",
    "export_account",
    "find_by_login",
    "generate_private_key_pem",
    "get_user",
    "read_user",
    "login",
    "logout",
    "parse_service_clients",
    "passwords",
    "register",
    "request_password_reset",
    "revoke_families",
    "rotate_refresh_token",
    "service_token",
    "set_roles",
    "start_session",
    "token_hash",
    "verification",
]
