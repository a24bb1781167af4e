"""Idempotency-Key on POST: the first answer kept in Redis for 24 hours and given again to a retry.

One record per caller and key, `hm:idem:<scope>:<sha256 of the key>`, where the scope is the
caller's user id (from the verified token) or, on a POST without a token (register, login), the
client's address: one caller can never replay another's answer. The record is first a lease
(`P|<owner>|<fingerprint>`, expiring after GATEWAY_IDEMPOTENCY_LEASE_SECONDS) taken atomically
with SET NX, so of two requests with one key, on any gateway process, exactly one is forwarded; the
other is 409 while the lease is held. Once the upstream has answered, the lease is replaced by the
answer (`D|<json>`: fingerprint, status, headers, body) for 24 hours, but only by the lease's owner.
A process that dies mid-request leaves its lease to expire, and a retry after that is forwarded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from shared.errors import BadRequest, Conflict, ServiceUnavailable, ValidationFailed

log = logging.getLogger("hugmood.gateway")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL_SECONDS = 24 * 3600
# 1..255 visible ASCII characters, spaces allowed inside (a UUID, a ULID, "order-42 retry").
_KEY = re.compile(r"\A[!-~](?:[ -~]{0,253}[!-~])?\Z")
# Upstream headers that belong to one answer only: a replay gets its own.
_NOT_REPLAYED = frozenset({"x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "date"})

# KEYS[1]: the record. ARGV: the lease value, its lifetime (ms). The record when one exists, else
# nil after taking the lease: one round trip, and no two requests can both take it.
_CLAIM = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# KEYS[1]: the record. ARGV: our lease value, the answer, its lifetime (s). Stored only over our
# own lease, or where it has expired with no one else's in its place.
_COMPLETE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
# KEYS[1]: the record. ARGV[1]: our lease value. Dropped only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def parse_key(value: str | None) -> str | None:
    """The request's Idempotency-Key, None without one; 400 when it is not 1..255 visible ASCII."""
    if value is None:
        return None
    if not _KEY.match(value):
        raise BadRequest(
            f"{HEADER} must be 1 to 255 visible ASCII characters.",
            code="idempotency.key_malformed",
            errors={HEADER: ["Must be 1 to 255 visible ASCII characters."]},
        )
    return value


def fingerprint(method: str, path_qs: str, content_type: str | None, body: bytes | None) -> str:
    """What "the same request" means: method, path and query, and the body, a JSON body compared
    by its content (key order and spacing do not count)."""
    data = body or b""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if data and (mimetype == "application/json" or mimetype.endswith("+json")):
        with contextlib.suppress(ValueError):  # (checked already: a JSON body is valid JSON)
            data = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in (method.encode(), path_qs.encode("latin-1", "replace"), data):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Replay:
    """A stored first answer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Lease:
    """This request holds the key: complete() with the upstream's answer, or release() to let a retry in."""

    store: IdempotencyStore
    record: str
    value: str

    def complete(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Keep the answer for 24 hours. Redis failing now loses only the record, never the answer:
        the client still gets it, and the lease expires."""
        document = {
            "fp": self.value.rsplit("|", 1)[1],
            "status": status,
            "headers": [[k, v] for k, v in headers if k.lower() not in _NOT_REPLAYED],
            "body": base64.b64encode(body).decode(),
        }
        answer = "D|" + json.dumps(document, separators=(",", ":"))
        try:
            self.store.complete_script(keys=[self.record], args=[self.value, answer, TTL_SECONDS])
        except redis.RedisError:
            log.warning("idempotency answer not stored (Redis unavailable)", extra={"record": self.record})

    def release(self) -> None:
        try:
            self.store.release_script(keys=[self.record], args=[self.value])
        except redis.RedisError:  # the lease expires on its own
            log.warning("idempotency lease not released (Redis unavailable)", extra={"record": self.record})


class IdempotencyStore:
    """The records in Redis, shared by every gateway process."""

    def __init__(self, client: redis.Redis, lease_seconds: float):
        self.redis = client
        self.lease_ms = max(int(lease_seconds * 1000), 1)
        self.claim_script = client.register_script(_CLAIM)
        self.complete_script = client.register_script(_COMPLETE)
        self.release_script = client.register_script(_RELEASE)

    @staticmethod
    def record_key(scope: str, key: str) -> str:
        return f"hm:idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"

    def begin(self, scope: str, key: str, print_: str) -> Lease | Replay:
        """Take the key's lease (this request goes on), or the stored answer to replay.

        409 while another request holds the lease, 422 when the key was used for another request,
        503 when Redis cannot answer: forwarding without the record could create a duplicate."""
        record = self.record_key(scope, key)
        lease = f"P|{uuid.uuid4().hex}|{print_}"
        try:
            existing = self.claim_script(keys=[record], args=[lease, self.lease_ms])
        except redis.RedisError as exc:
            raise ServiceUnavailable(
                f"Requests with an {HEADER} cannot be checked right now; retry later with the same key.",
                code="idempotency.unavailable",
                retry_after=2,
            ) from exc
        if existing is None:
            return Lease(self, record, lease)
        text = existing.decode() if isinstance(existing, bytes) else existing
        kind, _, rest = text.partition("|")
        if kind == "P":
            if rest.rsplit("|", 1)[1] != print_:
                raise _reused()
            raise Conflict(
                f"A request with this {HEADER} is still in progress.",
                code="idempotency.in_progress",
                headers={"Retry-After": "1"},
            )
        document: dict[str, Any] = json.loads(rest)
        if document["fp"] != print_:
            raise _reused()
        headers = [(k, v) for k, v in document["headers"]]
        return Replay(document["status"], headers, base64.b64decode(document["body"]))


def _reused() -> ValidationFailed:
    return ValidationFailed(
        f"This {HEADER} was already used for a different request.",
        code="idempotency.key_reused",
        errors={HEADER: ["Already used with another method, path or body."]},
    )


def keeps(status: int) -> bool:
    """Whether an upstream answer is the request's outcome, to be given again to a retry: any
    answer but 429 (retry later) and the 5xx family (the request did not take place, or its outcome
    is unknown; see Gateway.idempotent_post)."""
    return status < 500 and status != 429
