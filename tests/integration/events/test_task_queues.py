"""Each service's work goes to its own queue on the Redis broker, and nowhere else."""

from __future__ import annotations

from shared.config import Config
from shared.events import consume_sender, make_celery, service_queue


def test_a_task_for_one_service_reaches_only_its_queue_on_redis(redis_url, redis_client):
    """On the real broker, with the queues declared as a worker declares them: each message lands in
    its own service's queue and no other (a stopped service's events must not run elsewhere)."""
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url))
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():  # as a worker declares them
            queue.bind(conn.default_channel).declare()
        consume_sender(app)("social.erase", {}, "auth")  # routed by route_task, as the relay sends
    depths = {q.name: redis_client.llen(q.name) for q in app.conf.task_queues}  # Redis keeps a queue as a list
    assert depths == {q.name: int(q.name == service_queue("social")) for q in app.conf.task_queues}
