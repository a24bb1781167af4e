"""The gateway's Flask parts: its request, response and rule classes, and its own JSON answers."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import gevent
from flask import Request, Response
from werkzeug.routing import Rule

from shared.app import MAX_BODY_BYTES, request_id_from
from shared.errors import PayloadTooLarge, RequestTimeout


class GatewayRequest(Request):
    """Flask's request plus what the gateway keeps of it for its answer, metrics and access log."""

    def __init__(self, environ: dict[str, Any], *args: Any, **kwargs: Any):
        super().__init__(environ, *args, **kwargs)
        self.started = time.perf_counter()
        self.request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        # The path as the server decoded it. Werkzeug's `path` and its routing strip leading
        # slashes ("//healthz" reads as "/healthz"); the gateway routes and forwards this one.
        self.wsgi_path: str = environ.get("PATH_INFO", "/")
        self.user_id: str | None = None
        self.route_name = "<unmatched>"
        # Headers every answer to this request carries, a refusal too (the RateLimit ones).
        self.extra_headers: list[tuple[str, str]] = []

    def body(self, timeout: float, limit: int = MAX_BODY_BYTES) -> bytes:
        """Up to one byte over the limit, straight from the server's stream (nothing is parsed).

        A declared length over the limit is refused before a byte is read (413), and a body
        that has not arrived within `timeout` seconds is given up on (408): neither holds a
        connection for as long as the client likes. Both stop reading the connection, so the
        server closes it after the answer instead of waiting for the rest of the body."""
        length = self.body_length()
        if length is not None and length > limit:
            self.stop_reading()
            raise PayloadTooLarge(f"The body is over {limit} bytes.")
        stream = self.environ["wsgi.input"]
        try:
            with gevent.Timeout(timeout):
                body = stream.read(limit + 1 if length is None else length)
                if len(body) > limit:
                    self.stop_reading()
                    raise PayloadTooLarge(f"The body is over {limit} bytes.")
                return body
        except gevent.Timeout:
            self.stop_reading()
            raise RequestTimeout(f"The request body did not arrive within {timeout:g} seconds.") from None

    def stop_reading(self) -> None:
        """Shut the connection's read side (under gunicorn): whatever is still to come of this
        request reads as its end, and the connection closes once the answer is written."""
        sock = self.environ.get("gunicorn.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)

    def body_length(self) -> int | None:
        try:
            return int(self.environ["CONTENT_LENGTH"]) if self.environ.get("CONTENT_LENGTH") else None
        except ValueError:
            return None


class GatewayResponse(Response):
    """An answer that leaves exactly as built: no default Content-Type (a 204 has none), and the
    body (a streamed upstream answer) handed to the server as it is, so the server's close()
    returns its connection to the pool. Werkzeug's own rewriting (Location, Content-Length,
    a body-less HEAD) would change what the upstream said."""

    default_mimetype = None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        start_response(_status_line(self.status_code), self.headers.to_wsgi_list())
        return self.response


class NoHeadRule(Rule):
    """A rule that answers only the methods it names: Werkzeug's would add HEAD to every GET."""

    def __init__(self, string: str, **kwargs: Any):
        methods = kwargs.get("methods")
        super().__init__(string, **kwargs)
        if self.methods is not None and methods is not None and "HEAD" not in {m.upper() for m in methods}:
            self.methods.discard("HEAD")


def json_answer(payload: Any, status: int = 200) -> GatewayResponse:
    """An own endpoint's JSON answer, never cached."""
    data = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Cache-Control", "no-store")]
    return GatewayResponse([data], status, headers)


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _status_line(status: int) -> str:
    return _STATUS_LINES.get(status) or f"{status} Unknown"
