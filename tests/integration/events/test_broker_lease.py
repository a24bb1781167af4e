"""On the Redis broker: a worker holds its messages on a lease it renews, so a short visibility
timeout never hands a live worker's task to another; and the relay can tell which consume tasks the
broker still has, so it resends at once only what the broker lost."""

from __future__ import annotations

import json
import time

from kombu import Consumer

from shared.config import Config
from shared.events import broker_holdings, consume_sender, make_celery, resend_queue, service_queue
from shared.events.consumers import RedisTransport


def declared(app):
    """The queues declared as a worker declares them, and empty (other tests share the Redis db)."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.amqp.queues.values():
            queue.bind(channel).declare()
            channel.client.delete(*(channel._q_for_pri(queue.name, p) for p in channel.priority_steps))


def event(n: int) -> dict:
    return {"id": f"e-{n}", "type": "HugSent", "data": {"n": n}}


def test_a_worker_renews_its_hold_on_what_it_has_and_only_that(redis_url, redis_client):
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url, CELERY_VISIBILITY_TIMEOUT_SECONDS=30))
    declared(app)
    send = consume_sender(app)
    send("notification.hug_sent", event(1), "hugs")
    send("notification.hug_sent", event(2), "hugs")
    taken = []
    with (
        app.connection_for_read() as conn,
        Consumer(
            conn,
            queues=[app.amqp.queues[service_queue("notification")]],
            callbacks=[lambda b, m: taken.append(m)],
            accept=["json"],
            prefetch_count=2,
        ),
    ):
        while len(taken) < 2:
            conn.drain_events(timeout=5)
        first, second = taken
        first.ack()
        qos = conn.default_channel.qos
        stale = time.time() - 60
        redis_client.zadd("unacked_index", {second.delivery_tag: stale})
        assert qos.renew() == 1  # the one still held; the acknowledged one is not brought back
        assert redis_client.zscore("unacked_index", first.delivery_tag) is None
        assert redis_client.zscore("unacked_index", second.delivery_tag) > stale + 50
        qos.restore_visible(interval=1)  # what any worker does every few seconds
        assert redis_client.llen(service_queue("notification")) == 0, "a held message is not handed out again"
        redis_client.zadd("unacked_index", {second.delivery_tag: stale})  # its holder stopped renewing it
        qos.restore_visible(interval=1)
        assert redis_client.llen(service_queue("notification")) == 1, "an abandoned one comes back"
        assert redis_client.hlen("unacked") == 0


def test_the_worker_renews_on_its_event_loop_every_third_of_the_timeout(redis_url):
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url, CELERY_VISIBILITY_TIMEOUT_SECONDS=30))
    assert app.conf.broker_transport_options["unacked_restore_throttle"] == 1  # restore scans every 5 s, not 100
    assert app.conf.broker_transport_options["unacked_restore_interval"] == 5
    from kombu.asynchronous import Hub

    hub = Hub()
    try:
        with app.connection_for_read() as conn:
            conn.default_channel  # noqa: B018 (connects)
            transport = conn.transport
            assert isinstance(transport, RedisTransport)
            transport.register_with_event_loop(conn.connection, hub)
            first = transport.cycle._hugmood_renew_tref
            transport.register_with_event_loop(conn.connection, hub)  # a reconnect: one timer, not two
            assert first.canceled and not transport.cycle._hugmood_renew_tref.canceled
    finally:
        hub.close()


def test_a_task_running_longer_than_the_visibility_timeout_runs_once(redis_url, redis_client):
    """A real worker (threads pool, kombu's event loop) with a 2 s visibility timeout and a 7 s
    task: without the renewed lease the worker's own restore sweep hands the task out again."""
    from celery.contrib.testing.worker import start_worker

    app = make_celery(
        Config(
            CELERY_BROKER_URL=redis_url,
            REDIS_URL=redis_url,
            CELERY_VISIBILITY_TIMEOUT_SECONDS=2,
            WORKER_SERVICES=["notification"],
        )
    )
    runs = "test:lease:runs"

    @app.task(name="notification.slow", shared=False)
    def slow() -> None:
        redis_client.incr(runs)
        time.sleep(7)

    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=20):
        slow.apply_async()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and redis_client.hlen("unacked") == 0 and not redis_client.get(runs):
            time.sleep(0.1)
        time.sleep(9)  # the task has finished; a second run would have started by now
        assert int(redis_client.get(runs) or 0) == 1
        assert redis_client.hlen("unacked") == 0


def test_the_relay_sees_what_waits_in_a_queue_and_what_a_worker_holds(redis_url, redis_client):
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url))
    declared(app)
    send = consume_sender(app)
    for n in range(3):
        send("notification.hug_sent", event(n), "hugs")
    send("social.activities", event(0), "hugs")
    taken = []
    with (
        app.connection_for_read() as conn,
        Consumer(
            conn,
            queues=[app.amqp.queues[service_queue("notification")]],
            callbacks=[lambda b, m: taken.append(m)],
            accept=["json"],
            prefetch_count=1,
        ),
    ):
        conn.drain_events(timeout=5)  # e-0 taken by a worker: unacknowledged
        held = broker_holdings(app)
        assert {("e-0", "notification.hug_sent"), ("e-1", "notification.hug_sent")} <= held.pairs
        assert ("e-0", "social.activities") in held.pairs
        assert not held.lost("e-0", "notification.hug_sent") and not held.lost("e-2", "notification.hug_sent")
        # e-1 popped by a worker that died before recording it (kombu/#305): the broker has no copy
        queued = redis_client.lrange(service_queue("notification"), 0, -1)
        (raw,) = [r for r in queued if b"HugSent e-1>" in r]  # the header's description of the event
        redis_client.lrem(service_queue("notification"), 1, raw)
        held = broker_holdings(app)
        assert held.lost("e-1", "notification.hug_sent") and not held.lost("e-0", "notification.hug_sent")
        assert not held.lost("e-0", "social.activities")
        # Sent again, it waits on the resend queue: the broker has it once more.
        consume_sender(app, resend_queue)("notification.hug_sent", event(1), "hugs")
        assert not broker_holdings(app).lost("e-1", "notification.hug_sent")
        taken[0].ack()


def test_the_relay_does_not_guess_about_a_queue_too_long_to_read(redis_url, redis_client):
    app = make_celery(Config(CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url))
    declared(app)
    send = consume_sender(app)
    for n in range(5):
        send("social.activities", event(n), "hugs")
    held = broker_holdings(app, limit=3)
    assert not held.lost("e-99", "social.activities"), "nothing known of a queue longer than the limit"
    assert held.lost("e-99", "notification.hug_sent"), "an empty queue is known to lack it"
    for n in range(4):
        redis_client.hset("unacked", f"t{n}", json.dumps([{}, "", ""]))
    assert not broker_holdings(app, limit=3).lost("e-99", "notification.hug_sent"), "too much unacked: nothing known"


def test_an_amqp_broker_is_never_second_guessed():
    amqp = make_celery(Config(CELERY_BROKER_URL="memory://", REDIS_URL=""))
    assert not broker_holdings(amqp).lost("e-1", "notification.hug_sent")
