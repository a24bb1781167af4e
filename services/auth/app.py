"""Auth service wiring."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask_jwt_extended import JWTManager

from services.auth import api
from services.auth.models import db
from services.auth.service import (
    DeviceTokens,
    LoginThrottle,
    SigningKey,
    ensure_admin,
    parse_service_clients,
    passwords,
)
from services.auth.service.oidc import IdTokenVerifier, parse_providers
from services.auth.service.revocations import RecordedDenylist, watch
from shared.app import create_base_app
from shared.auth import ACCESS_TOKEN_SECONDS, JwksKeys
from shared.config import (
    DATABASE_SETTINGS,
    SERVICES,
    Config,
    ConfigError,
    Setting,
    parse_non_negative_int,
    parse_positive,
    resolve_config,
)

DEV_CLIENTS = ",".join(f"{name}:dev-service-secret" for name in (*SERVICES, "gateway"))

SETTINGS = [
    *DATABASE_SETTINGS,
    Setting("AUTH_JWT_PRIVATE_KEY", str, "", secret=True, help="PEM RSA key signing access tokens"),
    Setting("AUTH_JWT_PRIVATE_KEY_FILE", str, "", help="file holding that PEM key instead"),
    Setting(
        "AUTH_SERVICE_CLIENTS",
        parse_service_clients,
        parse_service_clients(DEV_CLIENTS),
        secret=True,
        help="name:secret pairs of the services allowed the client_credentials grant",
    ),
    Setting(
        "AUTH_HASH_WORKERS",
        parse_non_negative_int,
        1,
        help="low-priority (SCHED_IDLE) hashing processes per worker (0: inline)",
    ),
    Setting("AUTH_HASH_QUEUE", parse_non_negative_int, 8, help="hashes that may wait per worker before 503"),
    Setting(
        "AUTH_OIDC_PROVIDERS",
        parse_providers,
        {},
        help='OpenID Connect providers for /auth/oauth/{provider}, JSON: {"name": {"issuer", "client_id", "jwks_uri"}}',
    ),
    Setting(
        "AUTH_DENYLIST_CHECK_SECONDS",
        parse_positive(float),
        1.0,
        help="how often each process looks for a Redis that lost the denylist, to write it back",
    ),
    Setting("ADMIN_USERNAME", str, "", help="bootstrap admin's username"),
    Setting("ADMIN_EMAIL", str, "", help="bootstrap admin's email"),
    Setting("ADMIN_PASSWORD", str, "", secret=True, help="bootstrap admin's password"),
]


@dataclass
class AuthContext:
    key: SigningKey
    throttle: LoginThrottle
    service_clients: dict[str, str]
    id_tokens: IdTokenVerifier
    devices: DeviceTokens


def _signing_key(config: Config) -> SigningKey:
    pem = config.AUTH_JWT_PRIVATE_KEY
    problems = []
    if not pem and config.AUTH_JWT_PRIVATE_KEY_FILE:
        try:
            pem = Path(config.AUTH_JWT_PRIVATE_KEY_FILE).read_text()
        except OSError as exc:
            problems.append(f"AUTH_JWT_PRIVATE_KEY_FILE cannot be read: {exc.strerror}")
    elif not pem:
        problems.append("AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE is required")
    if pem:
        try:
            return SigningKey.from_pem(pem)
        except (ValueError, TypeError) as exc:
            problems.append(f"the access-token signing key is invalid: {exc}")
    raise ConfigError("auth", problems)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the auth service."""
    config = resolve_config("auth", config, SETTINGS)
    admin = [config.ADMIN_USERNAME, config.ADMIN_EMAIL, config.ADMIN_PASSWORD]
    if any(admin) and not all(admin):
        raise ConfigError("auth", ["ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD go together"])
    key = _signing_key(config)
    passwords.configure(config.AUTH_HASH_WORKERS, config.AUTH_HASH_QUEUE)
    keys = JwksKeys(None)
    keys.load({"keys": [key.public_jwk]})
    base = create_base_app(
        "auth", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS, form_endpoints=api.FORM_ENDPOINTS, jwks=keys
    )
    app = base.app
    app.config.update(
        JWT_ALGORITHM="RS256",
        JWT_IDENTITY_CLAIM="sub",
        JWT_PRIVATE_KEY=key.private_key,
        JWT_ENCODE_ISSUER=config.JWT_ISSUER,
        JWT_ENCODE_AUDIENCE=config.JWT_AUDIENCE,
        JWT_ACCESS_TOKEN_EXPIRES=ACCESS_TOKEN_SECONDS,
    )
    JWTManager(app)  # signs access tokens; every process verifies them with shared.auth
    # Device tokens are signed with a key derived from the signing key: no further secret to manage.
    device_key = hashlib.sha256(b"hugmood device tokens\0" + key.private_pem.encode()).digest()
    app.extensions["auth"] = AuthContext(
        key,
        LoginThrottle(base.redis),
        config.AUTH_SERVICE_CLIENTS,
        IdTokenVerifier(config.AUTH_OIDC_PROVIDERS),
        DeviceTokens(device_key),
    )
    api.register_resources(base.api)
    if all(admin):
        with app.app_context():
            ensure_admin(username=config.ADMIN_USERNAME, email=config.ADMIN_EMAIL, password=config.ADMIN_PASSWORD)
    watch(app, RecordedDenylist(base.redis), config.AUTH_DENYLIST_CHECK_SECONDS)
    return app
