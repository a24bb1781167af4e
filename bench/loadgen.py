"""A small fixed-rate, open-loop HTTP/1.1 load generator (the wrk2 idea, in asyncio).

Requests are *scheduled* at exact intervals (rate per second) whether or not earlier ones have
answered, and each request's latency is measured from the moment it was scheduled to be sent, so
a stall shows up in the numbers instead of silently lowering the offered load (no coordinated
omission). Requests go over a fixed set of keep-alive connections; if every connection is busy a
request waits for one, and that wait counts as latency too.

    python bench/loadgen.py --url http://127.0.0.1:14400/api/v1/auth/me --rate 500 --duration 10 \
        -H 'Authorization: Bearer ...' [--method POST --body '{...}'] [--connections 32]

Prints one JSON object on stdout: offered/achieved rate, status counts, errors, and latency
percentiles in milliseconds (`latency_ms`: from the scheduled send time; `service_ms`: from the
actual write, i.e. without any wait for a free connection or loadgen lag). Requests that failed, or
were still queued or unanswered `--grace` seconds after the last one was due, count as errors and
enter `latency_ms` with the time they had waited (a lower bound), so an overload cannot hide.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

PERCENTILES = (50, 75, 90, 99, 99.9, 100)


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    if p >= 100:
        return sorted_values[-1]
    rank = max(int(-(-p * len(sorted_values) // 100)), 1)  # ceil(p/100 * n)
    return sorted_values[rank - 1]


def summarize(values_s: list[float]) -> dict[str, float | None]:
    ordered = sorted(v * 1000 for v in values_s)
    out: dict[str, float | None] = {f"p{p:g}": _round(percentile(ordered, p)) for p in PERCENTILES}
    out["mean"] = _round(sum(ordered) / len(ordered)) if ordered else None
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, payload: bytes) -> int:
        """Send one request, read the whole response; the status code."""
        await self.ensure()
        assert self.reader is not None and self.writer is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await self.reader.readexactly(length)
        else:
            await self.reader.read()  # body until close
            close = True
        if close:
            self.drop()
        return status


async def run(args: argparse.Namespace, requests: Iterator[bytes] | None = None) -> dict:
    """Run one measurement; `requests`, if given, supplies each request's bytes in turn (e.g. one
    owner's request after another, each with its own token) instead of the one built from args."""
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    body = args.body.encode() if args.body is not None else b""
    headers = [f"{args.method} {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: keep-alive"]
    headers += args.header
    if body or args.method in ("POST", "PUT", "PATCH"):
        headers.append(f"Content-Length: {len(body)}")
    payload = ("\r\n".join(headers) + "\r\n\r\n").encode() + body

    connections = [Connection(host, port) for _ in range(args.connections)]
    await asyncio.gather(*(c.ensure() for c in connections))

    total = int(args.rate * (args.warmup + args.duration))
    warm = int(args.rate * args.warmup)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    service: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    in_flight: dict[int, float] = {}  # index -> scheduled time, of requests on the wire
    max_lag = 0.0
    last_done = 0.0

    async def worker(slot: int, conn: Connection) -> None:
        nonlocal last_done
        while True:
            item = await queue.get()
            if item is None:
                return
            index, intended = item
            in_flight[slot] = intended if index >= warm else -1.0
            started = time.perf_counter()
            try:
                async with asyncio.timeout(args.timeout):
                    status = await conn.request(payload if requests is None else next(requests))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                conn.drop()
                if index >= warm:
                    # a failed request still took at least this long: it stays in the latencies
                    latencies.append(time.perf_counter() - intended)
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            finally:
                in_flight.pop(slot, None)
            done = time.perf_counter()
            if index >= warm:
                latencies.append(done - intended)
                service.append(done - started)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                last_done = done

    workers = [asyncio.create_task(worker(i, c)) for i, c in enumerate(connections)]
    interval = 1.0 / args.rate
    t0 = time.perf_counter() + 0.05
    measure_start = t0 + warm * interval
    spin = args.spin_ms / 1000.0
    for i in range(total):
        intended = t0 + i * interval
        delay = intended - time.perf_counter()
        if delay > spin:
            await asyncio.sleep(delay - spin)
        # asyncio's timers wake up to a millisecond late (epoll's timeout is rounded up to whole
        # milliseconds) and an idle process wakes slowly: with --spin-ms the last stretch is spent
        # yielding to the loop (which keeps reading answers) until the send time is reached.
        while spin and time.perf_counter() < intended:
            await asyncio.sleep(0)
        delay = intended - time.perf_counter()
        if delay < 0:
            max_lag = max(max_lag, -delay)
        queue.put_nowait((i, intended))
    for _ in workers:
        queue.put_nowait(None)
    # Requests still queued or on the wire after `grace` are given up on; they count as errors and,
    # with the time they had waited so far (a lower bound), in the latencies.
    _, pending = await asyncio.wait(workers, timeout=args.grace)
    cutoff = time.perf_counter()
    unsent = unfinished = 0
    if pending:
        while not queue.empty():
            item = queue.get_nowait()
            if item is not None and item[0] >= warm:
                unsent += 1
                latencies.append(cutoff - item[1])
        for intended in list(in_flight.values()):
            if intended >= 0:
                unfinished += 1
                latencies.append(cutoff - intended)
        for _ in workers:
            queue.put_nowait(None)  # a worker that outlives its cancellation still finds its way out
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=2.0)
    for c in connections:
        c.drop()
    if unsent:
        errors["unsent_at_end"] = unsent
    if unfinished:
        errors["unfinished_at_end"] = unfinished
    completed = len(service)
    elapsed = (last_done or cutoff) - measure_start
    extra = {}
    if args.samples:
        extra["samples_ms"] = [round(v * 1000, 3) for v in latencies]
        extra["service_samples_ms"] = [round(v * 1000, 3) for v in service]
    return {
        "url": args.url,
        "method": args.method,
        "offered_rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "scheduled": total - warm,
        "completed": completed,
        "achieved_rate": round(completed / elapsed, 1) if elapsed > 0 else None,
        "statuses": statuses,
        "errors": errors,
        "max_schedule_lag_ms": round(max_lag * 1000, 3),
        "latency_ms": summarize(latencies),
        "service_ms": summarize(service),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second (fixed, open loop)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent at the same rate, not recorded")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds after the last send to wait for answers, then give up"
    )
    parser.add_argument(
        "--spin-ms",
        type=float,
        default=0.0,
        help="spend the last SPIN_MS before each send time polling the loop instead of sleeping, "
        "so requests leave on time (costs up to rate x SPIN_MS of a core)",
    )
    parser.add_argument("--samples", action="store_true", help="also print every latency (ms), for merging runs")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value' (repeatable)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
