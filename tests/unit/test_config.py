import pytest

from shared.config import ConfigError, Setting, load_config, parse_positive


def test_every_missing_or_bad_setting_is_named_at_once():
    settings = [
        Setting("DATABASE_URL"),
        Setting("WORKERS", parse_positive(int), 2),
        Setting("SECRET", str, secret=True),
    ]
    with pytest.raises(ConfigError) as caught:
        load_config("svc", {"WORKERS": "zero", "REDIS_URL": "http://nope", "LOG_LEVEL": "LOUD"}, settings)
    problems = "\n".join(caught.value.problems)
    for name in ("DATABASE_URL is required", "SECRET is required", "WORKERS='zero'", "REDIS_URL=", "LOG_LEVEL="):
        assert name in problems
    assert len(caught.value.problems) == 5


def test_secret_values_are_not_echoed():
    with pytest.raises(ConfigError) as caught:
        load_config("svc", {"TOKEN": "hunter2"}, [Setting("TOKEN", parse_positive(int), secret=True)])
    assert "hunter2" not in str(caught.value) and "<hidden>" in str(caught.value)


def test_defaults_and_parsing():
    config = load_config("svc", {"USER_URL": "http://a:1, http://b:2/"}, [Setting("N", parse_positive(int), 3)])
    assert config.N == 3 and config.USER_URL == ("http://a:1", "http://b:2")
    assert config.AUTH_URL == ("http://127.0.0.1:5001",)
    assert config.REDIS_URL == "redis://127.0.0.1:6379/0"


SECRET_SETTINGS = [Setting("SERVICE_CLIENT_SECRET", str, "dev-service-secret", secret=True)]
SECRET = Setting("TOKEN", str, "", secret=True)


def test_production_refuses_a_default_development_secret_and_names_it():
    with pytest.raises(ConfigError) as caught:
        load_config("svc", {}, SECRET_SETTINGS)
    [problem] = caught.value.problems
    assert problem.startswith("SERVICE_CLIENT_SECRET holds a development secret")
    with pytest.raises(ConfigError):
        load_config("svc", {"HUGMOOD_ENV": "production"}, SECRET_SETTINGS)


def test_development_accepts_development_secrets():
    config = load_config("svc", {"HUGMOOD_ENV": "development", "TOKEN": "change-me"}, [*SECRET_SETTINGS, SECRET])
    assert config.SERVICE_CLIENT_SECRET == "dev-service-secret" and config.HUGMOOD_ENV == "development"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKEN", "change-me"),
        ("REDIS_URL", "redis://:change-me@redis.example.internal:6379/0"),
        ("SERVICE_CLIENT_SECRET", "dev-service-secret"),
    ],
)
def test_production_refuses_a_change_me_placeholder_in_any_secret_setting(name, value):
    environ = {"SERVICE_CLIENT_SECRET": "s3cret-value", name: value}
    with pytest.raises(ConfigError) as caught:
        load_config("svc", environ, [*SECRET_SETTINGS, SECRET])
    [problem] = caught.value.problems
    assert problem.startswith(f"{name} holds") and "example.internal" not in problem


def test_production_refuses_the_auth_services_default_clients():
    from services.auth.app import SETTINGS

    environ = {"DATABASE_URL": "postgresql://hugmood@db/hugmood", "SERVICE_CLIENT_SECRET": "s3cret-value"}
    with pytest.raises(ConfigError) as caught:
        load_config("auth", environ, SETTINGS)
    assert [p.split()[0] for p in caught.value.problems] == ["AUTH_SERVICE_CLIENTS"]


def test_production_starts_with_real_secrets_and_keeps_non_secret_text():
    config = load_config(
        "svc", {"SERVICE_CLIENT_SECRET": "s3cret-value", "JWT_ISSUER": "change-me-issuer"}, SECRET_SETTINGS
    )
    assert config.HUGMOOD_ENV == "production" and config.SERVICE_CLIENT_SECRET == "s3cret-value"


def test_an_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="HUGMOOD_ENV='staging' is invalid"):
        load_config("svc", {"HUGMOOD_ENV": "staging"})
