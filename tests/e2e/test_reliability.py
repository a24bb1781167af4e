"""Nothing acknowledged is lost: kill the worker, restart the notification service, stop Redis.

The sizes below are CI's; `make chaos` runs the same tests at the sizes of the issue (CHAOS_* variables).
This module runs a fleet of its own, on a Redis server of its own that the tests can stop and
restart. That Redis keeps an append-only file synced on every write, as a production broker must:
a queued task survives the server's death.
"""

from __future__ import annotations

import contextlib
import itertools
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
import requests

from scripts.embedded import start_redis
from shared.testing import fresh_database
from tests.e2e.conftest import launch_fleet
from tests.e2e.fleet import Client, Fleet

pytestmark = pytest.mark.e2e

HUGS = int(os.environ.get("CHAOS_HUGS", "300"))
POLLERS = int(os.environ.get("CHAOS_POLLERS", "20"))
POLLED_NOTIFICATIONS = int(os.environ.get("CHAOS_POLL_NOTIFICATIONS", "200"))
REDIS_DOWN_SECONDS = float(os.environ.get("CHAOS_REDIS_DOWN_SECONDS", "8"))
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
            # A task held by a killed worker comes back after this long; short here so the test is quick.
            CELERY_VISIBILITY_TIMEOUT_SECONDS="10",
            # And an event the broker dropped is sent again after this long (the delivery ledger).
            EVENT_REDELIVER_SECONDS="20",
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


def send_hug(sender: Client, recipient: str) -> requests.Response:
    return sender.post("/api/v1/hugs", json={"recipient_id": recipient, "type": "warm"})


def test_killing_the_worker_mid_stream_loses_and_duplicates_nothing(chaos):
    fleet, _ = chaos
    senders, recipients = sign_up(fleet, 4), [uid for _, uid in sign_up(fleet, 4)]
    pairs = [(senders[i % 4][0], recipients[(i + 1) % 4]) for i in range(HUGS)]
    killed = threading.Event()
    acknowledged: list[str] = []
    lock = threading.Lock()

    def send(pair: tuple[Client, str]) -> None:
        response = send_hug(*pair)
        assert response.status_code == 201, response.text
        with lock:
            acknowledged.append(response.json()["id"])
            if len(acknowledged) >= HUGS * 0.3 and not killed.is_set():
                killed.set()
                fleet.stop("worker", sig=signal.SIGKILL)  # the whole process group: master and children
                fleet.start("worker")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, pairs))
    assert killed.is_set() and len(set(acknowledged)) == HUGS
    with contextlib.suppress(AssertionError):
        wait_until(lambda: sum(hug_notifications(fleet, recipients).values()) >= HUGS, timeout=60 + HUGS / 10)
    time.sleep(3)  # a redelivered duplicate would show up now
    counts = hug_notifications(fleet, recipients)
    lost = set(acknowledged) - set(counts)
    print(
        f"\nworker SIGKILL at 30%: {len(acknowledged)} hugs acknowledged, {len(counts)} notified, {len(lost)} lost, "
        f"{sum(counts.values()) - len(counts)} duplicates"
    )
    assert not lost, f"{len(lost)} of {HUGS} lost"
    assert set(counts) == set(acknowledged) and max(counts.values()) == 1, "0 duplicates"


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
