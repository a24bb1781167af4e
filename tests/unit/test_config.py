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
