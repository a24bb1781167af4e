"""Each service's work goes to its own queue on the Redis broker, and nowhere else."""

from __future__ import annotations

import base64
import json

from shared.config import Config
from shared.events import consume_sender, make_celery, resend_queue, service_queue


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


def take_in_order(app, queues, count: int) -> list[list]:
    """The arguments of the first `count` consume tasks a worker of `queues` takes, one at a time."""
    from kombu import Consumer

    taken: list[list] = []

    def take(body, message) -> None:
        taken.append(body[0])
        message.ack()

    with (
        app.connection_for_read() as conn,
        Consumer(conn, queues=queues, callbacks=[take], accept=["json"], prefetch_count=1),
    ):
        while len(taken) < count:
            conn.drain_events(timeout=5)
    return taken


def test_a_worker_takes_waiting_work_in_the_order_of_its_services(redis_url, redis_client):
    """With work waiting in several queues, a fetch takes the notification service's first (someone
    holds a poll for it) and the social feed's last, not kombu's default round robin."""
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url))
    queues = list(app.conf.task_queues)
    assert [q.name for q in queues][1:4:2] == [service_queue("notification"), service_queue("hug")]
    assert queues[-2].name == service_queue("social")
    send = consume_sender(app)
    with app.connection_for_write() as conn:
        for queue in queues:
            queue.bind(conn.default_channel).declare()
            redis_client.delete(queue.name)
    for n in range(2):
        send("social.activities", {"id": f"s{n}"}, "hug")
    send("mood.streaks", {"id": "m"}, "mood")
    for n in range(2):
        send("notification.hug_sent", {"id": f"n{n}"}, "hug")
    taken = [args[0] for args in take_in_order(app, queues, 5)]  # the consumers' names
    # (round robin would take one from each queue in turn: notification, mood, social, notification, ...)
    assert taken == ["notification.hug_sent"] * 2 + ["mood.streaks"] + ["social.activities"] * 2


def test_the_message_headers_describe_the_event_without_its_data(redis_url, redis_client):
    """The consumer gets the whole event in the message's body; the headers (what monitoring and
    logs show of a task's arguments) name only the consumer, the event's type and id."""
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url))
    queue = service_queue("notification")
    redis_client.delete(queue)
    with app.connection_for_write() as conn:
        for declared in app.amqp.queues.values():
            declared.bind(conn.default_channel).declare()
    event = {"id": "e-1", "type": "HugSent", "data": {"message": "only for the recipient's eyes"}}
    consume_sender(app)("notification.hug_sent", event, "hugs")
    (raw,) = redis_client.lrange(queue, 0, -1)
    message = json.loads(raw)
    assert "only for the recipient" not in json.dumps(message["headers"])
    assert message["headers"]["argsrepr"] == "('notification.hug_sent', <event HugSent e-1>, 'hugs')"
    body = json.loads(base64.b64decode(message["body"]))
    assert body[0] == ["notification.hug_sent", event, "hugs"]  # the consumer still gets all of it


def test_what_the_relay_sends_again_is_taken_before_the_backlog(redis_url, redis_client):
    """An event the broker lost is late already: sent again on its service's resend queue, it is
    taken before the messages that were queued behind it meanwhile, not after all of them."""
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url, WORKER_SERVICES=("notification",)))
    queues = list(app.conf.task_queues)
    with app.connection_for_write() as conn:
        for queue in queues:
            queue.bind(conn.default_channel).declare()
            redis_client.delete(queue.name)
    send, resend = consume_sender(app), consume_sender(app, resend_queue)
    for n in range(20):
        send("notification.hug_sent", {"id": f"backlog-{n}"}, "hugs")
    resend("notification.hug_sent", {"id": "lost"}, "hugs")
    assert redis_client.llen(resend_queue("notification")) == 1
    taken = [args[1]["id"] for args in take_in_order(app, queues, 3)]  # the events' ids
    redis_client.delete(*(q.name for q in queues))  # the rest of the backlog
    assert taken == ["lost", "backlog-0", "backlog-1"]
