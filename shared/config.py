"""Configuration from the environment, validated all at once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SERVICES = ("auth", "user", "mood", "hug", "notification", "social")
# The order in which a worker serves the services' queues when work waits: what someone is waiting
# for right now (a held poll, a push) first, the social feed last.
WORKER_PRIORITY = ("notification", "hug", "user", "mood", "auth", "social")
DEFAULT_PORTS = {
    "gateway": 4000,
    "auth": 5001,
    "user": 5002,
    "mood": 5003,
    "hug": 5004,
    "notification": 5005,
    "social": 5006,
    "graphql": 5000,
}
SCHEMAS = {
    "auth": "auth",
    "user": "users",
    "mood": "moods",
    "hug": "hugs",
    "notification": "notifications",
    "social": "social",
}

_REQUIRED = object()


class ConfigError(Exception):
    """Raised with every missing or malformed setting named at once."""

    def __init__(self, process: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{process}: invalid configuration:\n{lines}")


def parse_bool(value: str) -> bool:
    """Parse 1/0, true/false, yes/no, on/off."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_url(*schemes: str) -> Callable[[str], str]:
    """A parser accepting URLs with one of the given schemes and a host."""

    def parse(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(schemes)}")
        if not (parts.hostname or parts.path):
            raise ValueError("missing host")
        return value

    return parse


def parse_url_list(*schemes: str) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma-separated list of URLs (service instances)."""
    one = parse_url(*schemes)

    def parse(value: str) -> tuple[str, ...]:
        urls = tuple(one(v.strip()).rstrip("/") for v in value.split(",") if v.strip())
        if not urls:
            raise ValueError("expected at least one URL")
        return urls

    return parse


def parse_positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser for a number greater than zero."""

    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError("must be greater than 0")
        return number

    return parse


def parse_non_negative_int(value: str) -> int:
    """A whole number, 0 or more."""
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


ENVIRONMENTS = ("production", "development")
# Secret values that are only ever fit for a development fleet: the services' default client
# secret, and the "change-me" placeholders of k8s/secret.template.yaml.
DEVELOPMENT_SECRETS = ("dev-service-secret", "change-me")


def parse_environment(value: str) -> str:
    if value not in ENVIRONMENTS:
        raise ValueError(f"expected one of {', '.join(ENVIRONMENTS)}")
    return value


def parse_log_level(value: str) -> str:
    """Accept the standard logging level names."""
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def parse_port_or_off(value: str) -> int:
    """A TCP port, or 0 for off."""
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError("expected a port number, or 0 for off")
    return port


def parse_services(value: str) -> tuple[str, ...]:
    """A comma-separated subset of SERVICES."""
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in SERVICES]
    if unknown or not names:
        raise ValueError(f"expected a comma-separated list of {', '.join(SERVICES)}")
    return names


@dataclass(frozen=True)
class Setting:
    """One environment variable: its parser, default, and whether to hide its value."""

    name: str
    parse: Callable[[str], Any] = str
    default: Any = _REQUIRED
    secret: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


class Config(dict):
    """Parsed settings; attribute access for convenience."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def service_url_settings() -> list[Setting]:
    """The base URL(s) of every service, comma-separated when a service has several instances."""
    return [
        Setting(
            f"{name.upper()}_URL",
            parse_url_list("http", "https"),
            (f"http://127.0.0.1:{DEFAULT_PORTS[name]}",),
            help=f"base URL(s) of the {name} service",
        )
        for name in SERVICES
    ]


COMMON_SETTINGS = [
    Setting(
        "HUGMOOD_ENV",
        parse_environment,
        "production",
        help="production refuses to start with a development secret (the default dev-service-secret, "
        "a change-me placeholder); development (make run, the tests, docker-compose) allows them",
    ),
    Setting(
        "REDIS_URL",
        parse_url("redis", "rediss", "unix"),
        "redis://127.0.0.1:6379/0",
        secret=True,
        help="Redis for denylist, rate limits, caches and wake-ups",
    ),
    Setting("LOG_LEVEL", parse_log_level, "INFO", help="logging level"),
    Setting("JWT_ISSUER", str, "hugmood-auth", help="iss of access tokens"),
    Setting("JWT_AUDIENCE", str, "hugmood", help="aud of access tokens"),
    Setting("JWKS_CACHE_SECONDS", parse_positive(int), 300, help="how long verifiers keep the auth service's JWKS"),
    Setting("HTTP_TIMEOUT_SECONDS", parse_positive(float), 5.0, help="read timeout of service-to-service calls"),
    Setting(
        "READINESS_GRACE_SECONDS",
        parse_non_negative_int,
        30,
        help="/readyz stays 200 while PostgreSQL or Redis has been unreachable for less than this, "
        "so a short outage does not empty every Service (0: fail readiness at once)",
    ),
    *service_url_settings(),
]

DATABASE_SETTINGS = [
    Setting(
        "DATABASE_URL",
        parse_url("postgresql", "postgresql+psycopg2", "postgres"),
        secret=True,
        help="PostgreSQL URL of a role that may create roles and schemas",
    ),
    Setting(
        "DATABASE_ROLE_PASSWORD",
        str,
        "",
        secret=True,
        help="password of the per-service database roles (empty: none, for trust auth)",
    ),
    Setting(
        "CELERY_BROKER_URL",
        parse_url("redis", "rediss", "amqp", "pyamqp"),
        "",
        secret=True,
        help="Celery broker (default: REDIS_URL)",
    ),
    Setting(
        "CELERY_VISIBILITY_TIMEOUT_SECONDS",
        parse_positive(int),
        30,
        help="how long the tasks a dead worker held stay invisible before another worker gets them "
        "(a live worker renews its hold every third of it)",
    ),
    Setting(
        "EVENT_MAX_RETRIES", parse_positive(int), 10, help="retries of a failing event consumer before dead-lettering"
    ),
    Setting(
        "EVENT_RETRY_MAX_SECONDS",
        parse_positive(int),
        60,
        help="longest delay between a consumer's retries (exponential backoff up to it)",
    ),
    Setting(
        "EVENT_REDELIVER_SECONDS",
        parse_positive(int),
        600,
        help="an event a consumer has neither finished nor retried for this long is sent to it again",
    ),
    Setting(
        "EVENT_LOST_SECONDS",
        parse_positive(int),
        15,
        help="an event a consumer has not finished that the broker no longer holds (lost by a worker "
        "killed as it took it) is sent to it again after this long",
    ),
    Setting(
        "EVENT_RETENTION_DAYS",
        parse_positive(float),
        7.0,
        help="published outbox rows every consumer finished, and processed-event ids, are deleted after this many days",
    ),
    Setting(
        "WORKER_METRICS_PORT",
        parse_port_or_off,
        9101,
        help="port of the Celery worker's /metrics (task outcomes of all its processes); 0 = off",
    ),
    Setting(
        "RELAY_METRICS_PORT",
        parse_port_or_off,
        9102,
        help="port of the relay's /metrics (outbox backlog and lag); 0 = off",
    ),
    Setting(
        "WORKER_SERVICES",
        parse_services,
        WORKER_PRIORITY,
        help="the services whose consumers and tasks this worker runs (comma-separated; default all, "
        "notification first), so each service's work can run, and stop, on its own; when work waits, "
        "the queue of the service listed first is served first",
    ),
    Setting(
        "SERVICE_CLIENT_SECRET",
        str,
        "dev-service-secret",
        secret=True,
        help="this service's client secret for service-to-service tokens",
    ),
]


def load_config(
    process: str,
    environ: Mapping[str, str] | None = None,
    settings: Iterable[Setting] = (),
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Parse every setting of `process`; raise ConfigError naming all problems at once."""
    environ = os.environ if environ is None else environ
    config = Config(PROCESS=process)
    problems: list[str] = []
    for setting in [*COMMON_SETTINGS, *settings]:
        raw = environ.get(setting.name)
        if raw is None or raw == "":
            if setting.required:
                problems.append(f"{setting.name} is required ({setting.help})")
            else:
                config[setting.name] = setting.default
            continue
        try:
            config[setting.name] = setting.parse(raw)
        except (ValueError, TypeError) as exc:
            if setting.secret:
                problems.append(f"{setting.name}=<hidden> is invalid")
            else:
                problems.append(f"{setting.name}={raw!r} is invalid: {exc}")
    if not problems and config["HUGMOOD_ENV"] == "production":
        problems = [
            f"{setting.name} holds a development secret or a placeholder ({' or '.join(DEVELOPMENT_SECRETS)}): "
            "set a real one (HUGMOOD_ENV=development allows it, for make run and tests only)"
            for setting in [*COMMON_SETTINGS, *settings]
            if setting.secret and any(marker in str(config[setting.name]) for marker in DEVELOPMENT_SECRETS)
        ]
    if problems:
        raise ConfigError(process, problems)
    if "CELERY_BROKER_URL" in config and not config["CELERY_BROKER_URL"]:
        config["CELERY_BROKER_URL"] = config["REDIS_URL"]
    config.update(overrides or {})
    return config


def resolve_config(process: str, config: Mapping[str, Any] | None, settings: Iterable[Setting] = ()) -> Config:
    """What create_app(config) accepts: a parsed Config, or env-style overrides on top of os.environ."""
    if isinstance(config, Config):
        return config
    environ = {**os.environ, **{k: str(v) for k, v in (config or {}).items()}}
    return load_config(process, environ, settings)
