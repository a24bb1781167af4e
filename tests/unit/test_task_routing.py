"""Each service's work has its own queue, so a worker can run (and stop) one service's consumers."""

from __future__ import annotations

import pytest

from shared.config import SERVICES, Config, ConfigError, load_config
from shared.events import CONSUME_TASK, make_celery, resend_queue, route_task, service_queue


@pytest.mark.parametrize(
    ("name", "args", "queue"),
    [
        (CONSUME_TASK, ("social.activities", {}, "moods"), "events.social"),
        (CONSUME_TASK, ("notification.erase", {}, "auth"), "events.notification"),
        ("hug.expire_group_hugs", (), "events.hug"),
        ("notification.deliver", ("id",), "events.notification"),
    ],
)
def test_tasks_go_to_their_services_queue(name, args, queue):
    assert route_task(name, args, {}, {}) == {"queue": queue}


def test_a_task_of_no_service_keeps_the_default_queue():
    assert route_task("celery.backend_cleanup", (), {}, {}) is None


def test_a_worker_listens_to_the_queues_of_its_services_only():
    app = make_celery(Config(CELERY_BROKER_URL="memory://", REDIS_URL="", WORKER_SERVICES=("social",)))
    assert [q.name for q in app.conf.task_queues] == [resend_queue("social"), service_queue("social"), "events"]
    every = make_celery(Config(CELERY_BROKER_URL="memory://", REDIS_URL=""))
    assert {q.name for q in every.conf.task_queues} == {
        "events",
        *(service_queue(s) for s in SERVICES),
        *(resend_queue(s) for s in SERVICES),
    }


@pytest.mark.parametrize("value", ["gateway", "social,,nope", " , "])
def test_worker_services_must_name_services(value):
    from shared.config import DATABASE_SETTINGS

    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h", "WORKER_SERVICES": value}
    with pytest.raises(ConfigError, match="WORKER_SERVICES"):
        load_config("worker", env, DATABASE_SETTINGS)


def test_worker_services_parse_a_subset():
    from shared.config import DATABASE_SETTINGS

    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h", "WORKER_SERVICES": "social, hug"}
    env["HUGMOOD_ENV"] = "development"
    assert load_config("worker", env, DATABASE_SETTINGS).WORKER_SERVICES == ("social", "hug")
