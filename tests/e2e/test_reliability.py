"""Nothing acknowledged is lost, nor late: kill the worker, restart the notification service, stop Redis.

The sizes below are CI's; `make chaos` runs the same tests at the sizes of the issue (CHAOS_* variables).
This module runs a fleet of its own, on a Redis server of its own that the tests can stop and
restart. That Redis keeps an append-only file synced on every write, as a production broker must:
a queued task survives the server's death. The event settings (visibility timeout, redelivery) are
the production defaults: how late an event can be after a worker dies is what is tested.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
import redis
import requests

from scripts.embedded import start_redis
from shared.events import CONSUME_TASK
from shared.testing import fresh_database
from tests.e2e.conftest import launch_fleet
from tests.e2e.fleet import Client, Fleet

pytestmark = pytest.mark.e2e

HUGS = int(os.environ.get("CHAOS_HUGS", "300"))
POLLERS = int(os.environ.get("CHAOS_POLLERS", "20"))
POLLED_NOTIFICATIONS = int(os.environ.get("CHAOS_POLL_NOTIFICATIONS", "200"))
REDIS_DOWN_SECONDS = float(os.environ.get("CHAOS_REDIS_DOWN_SECONDS", "8"))
# An acknowledged event reaches its consumer at most this long after a killed worker is started again.
DELIVERY_BOUND_SECONDS = float(os.environ.get("CHAOS_DELIVERY_BOUND_SECONDS", "60"))
REDIS_OPTIONS = {"appendonly": "yes", "appendfsync": "always", "save": ""}
_addresses = itertools.count(1)


class ChaosRedis:
    """A redis-server the tests may kill and start again on the same port and data."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.server = start_redis(data_dir, **REDIS_OPTIONS)
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        pid = int((self.data_dir / "redis" / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        self.server.stop()  # reaps the process

    def start(self) -> None:
        (self.data_dir / "redis" / "redis.pid").unlink(missing_ok=True)
        self.server = start_redis(self.data_dir, port=self.port, **REDIS_OPTIONS)


@pytest.fixture(scope="module")
def chaos(servers, fleet_key, tmp_path_factory) -> Iterator[tuple[Fleet, ChaosRedis]]:
    run_dir = tmp_path_factory.mktemp("chaos")
    redis_server = ChaosRedis(run_dir)
    try:
        database_url = fresh_database(servers.database_url, servers.database("hugmood_chaos"))
        fleet = launch_fleet(
            database_url,
            redis_server.url,
            fleet_key,
            run_dir,
            HUG_FLOOD_LIMIT="1000000",
            GATEWAY_RATE_LIMIT_PER_USER="1000000",
            GATEWAY_RATE_LIMIT_PER_IP="1000000",
            GATEWAY_BREAKER_RESET_SECONDS="1",
            WORKER_CONCURRENCY="2",
            NOTIFICATION_PUSH_PROVIDER="logging",
            NOTIFICATION_EMAIL_PROVIDER="logging",
        )
        try:
            yield fleet, redis_server
        finally:
            fleet.stop_all()
    finally:
        redis_server.server.stop()


def sign_up(fleet: Fleet, n: int) -> list[tuple[Client, str]]:
    """n users, each a client with its token, from its own loopback address."""
    people = []
    for _ in range(n):
        k = next(_addresses)
        client = Client(fleet.gateway, f"127.0.{8 + k // 250}.{k % 250 + 1}")
        name = f"c{uuid.uuid4().hex[:12]}"
        response = client.post(
            "/api/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "a soft warm blanket"},
        )
        assert response.status_code == 201, response.text
        client.bearer(response.json()["access_token"])
        opened = client.put("/api/v1/users/me/privacy", json={"allow_hugs_from": "anyone"})
        assert opened.status_code == 200, opened.text
        people.append((client, response.json()["user"]["id"]))
    return people


def query(fleet: Fleet, sql: str, *args: object) -> list[tuple]:
    conn = psycopg2.connect(fleet.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def hug_notifications(fleet: Fleet, recipients: list[str]) -> Counter:
    """hug id → how many hug_received notifications exist for it, for these recipients."""
    rows = query(
        fleet,
        "SELECT data->>'hug_id' FROM notifications.notifications "
        "WHERE type = 'hug_received' AND user_id::text = ANY(%s)",
        recipients,
    )
    return Counter(row[0] for row in rows)


def wait_until(check, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return result


def notified_at(fleet: Fleet, hugs: list[str]) -> dict[str, float]:
    """hug id → when its hug_received notification was written (epoch seconds; the latest, if several)."""
    rows = query(
        fleet,
        "SELECT data->>'hug_id', max(EXTRACT(EPOCH FROM created_at)) FROM notifications.notifications "
        "WHERE type = 'hug_received' AND data->>'hug_id' = ANY(%s) GROUP BY 1",
        hugs,
    )
    return {hug: float(at) for hug, at in rows}


def processed_hug_events(fleet: Fleet, hugs: list[str]) -> tuple[int, int]:
    """(HugSent events of these hugs, of them those the notification consumer recorded as processed)."""
    ((events, processed),) = query(
        fleet,
        "SELECT count(*), count(p.event_id) FROM hugs.outbox o LEFT JOIN notifications.processed_events p "
        "ON p.event_id = o.id AND p.consumer = 'notification.hug_sent' "
        "WHERE o.event_type = 'HugSent' AND o.payload->'data'->>'hug_id' = ANY(%s)",
        hugs,
    )
    return events, processed


def ledger_redeliveries(fleet: Fleet) -> int:
    return query(fleet, "SELECT COALESCE(sum(redeliveries), 0) FROM hugs.outbox_deliveries")[0][0]


def send_hug(sender: Client, recipient: str) -> requests.Response:
    return sender.post("/api/v1/hugs", json={"recipient_id": recipient, "type": "warm"})


def test_killing_the_worker_mid_stream_loses_duplicates_and_delays_nothing(chaos):
    """SIGKILL the worker (master and children) mid-stream and start it again at once: every
    acknowledged hug is notified exactly once, each within DELIVERY_BOUND_SECONDS of the worker
    coming back (or of its acknowledgement, if later). What the dead worker held comes back when its
    lease runs out (the visibility timeout); a message it had popped but not recorded, which the
    broker has lost, the relay sends again (EVENT_LOST_SECONDS)."""
    fleet, _ = chaos
    senders, recipients = sign_up(fleet, 4), [uid for _, uid in sign_up(fleet, 4)]
    pairs = [(senders[i % 4][0], recipients[(i + 1) % 4]) for i in range(HUGS)]
    killed = threading.Event()
    acknowledged: dict[str, float] = {}  # hug id → when its 201 came
    back: list[float] = []
    lock = threading.Lock()
    redelivered_before = ledger_redeliveries(fleet)

    def send(pair: tuple[Client, str]) -> None:
        response = send_hug(*pair)
        assert response.status_code == 201, response.text
        with lock:
            acknowledged[response.json()["id"]] = time.time()
            if len(acknowledged) >= HUGS * 0.3 and not killed.is_set():
                killed.set()
                fleet.stop("worker", sig=signal.SIGKILL)  # the whole process group: master and children
                fleet.start("worker")
                back.append(time.time())

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, pairs))
    assert killed.is_set() and len(acknowledged) == HUGS
    hugs = list(acknowledged)
    with contextlib.suppress(AssertionError):
        wait_until(lambda: len(notified_at(fleet, hugs)) >= HUGS, timeout=DELIVERY_BOUND_SECONDS + 30 + HUGS / 10)
    time.sleep(3)  # a redelivered duplicate would show up now
    counts = hug_notifications(fleet, recipients)
    delivered = notified_at(fleet, hugs)
    lost = set(hugs) - set(delivered)
    late = {hug: at - max(acknowledged[hug], back[0]) for hug, at in delivered.items()}
    slowest = max(late.values(), default=0.0)
    median = sorted(late.values())[len(late) // 2] if late else 0.0
    events, processed = processed_hug_events(fleet, hugs)
    print(
        f"\nworker SIGKILL at 30% of {HUGS} hugs, started again at once: {len(delivered)} notified, "
        f"{len(lost)} lost, {sum(counts.values()) - len(counts)} duplicates; slowest delivery after the worker "
        f"came back {slowest:.1f} s (bound {DELIVERY_BOUND_SECONDS:g} s; median {median:.1f} s: the backlog), "
        f"ledger resends {ledger_redeliveries(fleet) - redelivered_before}"
    )
    assert not lost, f"{len(lost)} of {HUGS} lost (or later than the wait)"
    assert set(counts) == set(hugs) and max(counts.values()) == 1, "0 duplicates"
    assert events == processed == HUGS, "each event processed once by the notification consumer"
    assert slowest <= DELIVERY_BOUND_SECONDS, f"slowest delivery {slowest:.1f} s after the worker came back"


def take_from_queue(broker: redis.Redis, hug_id: str) -> dict | None:
    """The notification consumer's waiting message for this hug, taken out of its queue (as a
    worker's BRPOP does); None while the relay has not sent it."""
    for raw in broker.lrange("events.notification", 0, -1):
        message = json.loads(raw)
        if message["headers"].get("task") != CONSUME_TASK:
            continue  # another of the service's tasks (a delivery sweep, say)
        args = json.loads(base64.b64decode(message["body"]))[0]
        if args[1]["data"].get("hug_id") == hug_id:
            assert broker.lrem("events.notification", 1, raw) == 1
            return message
    return None


@pytest.mark.parametrize("fate", ["lost", "held"])
def test_a_message_the_dead_worker_took_is_delivered_soon_after_it_is_back(chaos, fate):
    """The two ways a worker killed as it takes a message leaves it, made to happen for sure (a
    real kill hits them by chance, see above): "lost", popped from the queue and never recorded as
    unacknowledged (kombu's Redis transport; celery/kombu#305), so the broker has no copy at all;
    "held", recorded as unacknowledged by a worker that then died, so no live worker renews it.
    Either way the hug is notified once, soon after a worker is back (not after
    EVENT_REDELIVER_SECONDS, nor a visibility timeout sized for the longest task)."""
    fleet, redis_server = chaos
    ((sender, _),), ((_, recipient),) = sign_up(fleet, 1), sign_up(fleet, 1)
    broker = redis.Redis.from_url(redis_server.url)
    fleet.stop("worker")
    try:
        response = send_hug(sender, recipient)
        assert response.status_code == 201, response.text
        hug = response.json()["id"]
        message = wait_until(lambda: take_from_queue(broker, hug), timeout=10, every=0.1)
        if fate == "held":  # recorded as kombu records what a worker takes; then that worker dies
            tag, delivery = message["properties"]["delivery_tag"], message["properties"]["delivery_info"]
            broker.zadd("unacked_index", {tag: time.time()})
            broker.hset("unacked", tag, json.dumps([message, delivery["exchange"], delivery["routing_key"]]))
    finally:
        fleet.start("worker")
    started = time.time()
    wait_until(lambda: notified_at(fleet, [hug]), timeout=DELIVERY_BOUND_SECONDS + 30)
    took = notified_at(fleet, [hug])[hug] - started
    time.sleep(2)
    print(f"\nmessage {fate} by a dead worker: notified {took:.1f} s after the worker was started again")
    assert hug_notifications(fleet, [recipient]) == {hug: 1}
    assert took <= DELIVERY_BOUND_SECONDS


def test_long_polls_get_each_notification_once_in_order_across_a_restart(chaos):
    fleet, _ = chaos
    pollers = sign_up(fleet, POLLERS)
    ((sender, _),) = sign_up(fleet, 1)
    per_poller = POLLED_NOTIFICATIONS // POLLERS
    received: dict[str, list[dict]] = {uid: [] for _, uid in pollers}
    stop = threading.Event()
    errors: Counter = Counter()
    ready: set[str] = set()

    def poll(client: Client, uid: str) -> None:
        cursor = None  # the first poll, without a cursor, answers at once with the current one
        while not stop.is_set():
            params = {"timeout": 5} if cursor is None else {"cursor": cursor, "timeout": 5}
            try:
                response = client.get("/api/v1/notifications/poll", params=params)
            except requests.RequestException as exc:
                errors[type(exc).__name__] += 1
                time.sleep(0.2)
                continue
            if response.status_code != 200:
                errors[response.status_code] += 1
                time.sleep(0.2)
                continue
            body = response.json()
            if cursor is not None:
                received[uid].extend(body["items"])
            cursor = body["cursor"]
            ready.add(uid)

    threads = [threading.Thread(target=poll, args=person, daemon=True) for person in pollers]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(ready) == POLLERS, timeout=30)
    time.sleep(0.5)  # every poller has its cursor and holds a poll
    restarted = False
    sent: dict[str, list[str]] = {uid: [] for _, uid in pollers}
    for i in range(per_poller * POLLERS):
        uid = pollers[i % POLLERS][1]
        response = send_hug(sender, uid)
        assert response.status_code == 201, response.text
        sent[uid].append(response.json()["id"])
        if not restarted and i >= per_poller * POLLERS // 2:
            restarted = True
            fleet.stop("notification")
            fleet.start("notification")
            fleet.wait_healthy(("notification",))
    try:
        with contextlib.suppress(AssertionError):
            wait_until(
                lambda: all(len(received[uid]) >= per_poller for uid in received),
                timeout=60 + POLLED_NOTIFICATIONS / 10,
            )
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    short = {uid: len(items) for uid, items in received.items() if len(items) != per_poller}
    print(
        f"\nnotification restart: {POLLERS} pollers, {sum(len(v) for v in received.values())} notifications received "
        f"of {per_poller * POLLERS} sent; poll errors while it restarted: {dict(errors)}"
    )
    assert not short, f"expected {per_poller} each, got {short}; poll errors: {dict(errors)}"
    for _, uid in pollers:
        items = received[uid]
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)) == per_poller, (uid, len(ids), len(set(ids)))
        assert sorted(item["data"]["hug_id"] for item in items) == sorted(sent[uid])
        order = [
            row[0]
            for row in query(
                fleet, "SELECT id::text FROM notifications.notifications WHERE user_id = %s ORDER BY seq", uid
            )
        ]
        assert ids == order, "in the per-user sequence order"


def test_redis_down_refuses_writes_clearly_and_loses_no_acknowledged_one(chaos):
    fleet, redis_server = chaos
    senders, recipients = sign_up(fleet, 2), [uid for _, uid in sign_up(fleet, 2)]
    direct = [Client(fleet.url("hug")) for _ in senders]
    for (client, _), plain in zip(senders, direct, strict=True):
        plain.headers["Authorization"] = client.headers["Authorization"]
    outcomes: Counter = Counter()
    acknowledged: list[str] = []
    stop = threading.Event()

    def traffic(client: Client, recipient: str) -> None:
        while not stop.is_set():
            try:
                response = send_hug(client, recipient)
            except requests.RequestException as exc:
                outcomes[f"error {type(exc).__name__}"] += 1
                time.sleep(0.05)
                continue
            outcomes[response.status_code] += 1
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            elif response.status_code == 503:
                assert response.headers["Content-Type"] == "application/problem+json"
            time.sleep(0.02)

    clients = [senders[0][0], senders[1][0], *direct]
    threads = [
        threading.Thread(target=traffic, args=(client, recipients[i % 2]), daemon=True)
        for i, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)
    before = outcomes[201]
    redis_server.kill()
    time.sleep(REDIS_DOWN_SECONDS)
    refused_while_down = outcomes[503]
    redis_server.start()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    print(f"\nRedis down {REDIS_DOWN_SECONDS:g} s: answers {dict(outcomes)} (503 while down: {refused_while_down})")
    assert set(outcomes) <= {201, 503}, outcomes
    assert before > 0 and refused_while_down > 0 and outcomes[201] > before, outcomes

    def drained() -> bool:
        pending = query(fleet, "SELECT count(*) FROM hugs.outbox WHERE published_at IS NULL")[0][0]
        return pending == 0 and set(acknowledged) <= set(hug_notifications(fleet, recipients))

    wait_until(drained, timeout=60)
    counts = hug_notifications(fleet, recipients)
    print(
        f"after Redis returned: {len(acknowledged)} acknowledged hugs, {len(set(acknowledged) & set(counts))} notified"
    )
    assert max(counts.values()) == 1
    exited = {name: proc.returncode for name, proc in fleet.procs.items() if proc.poll() is not None}
    assert not exited, f"processes that did not survive Redis going away: {exited}"
