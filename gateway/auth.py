"""Token checks at the edge: verify once, cache until expiry; the client address, unspoofable."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable
from typing import Any

from shared.auth import JwksKeys, decode_access_token
from shared.errors import Unauthorized


class TokenVerifier:
    """Verifies access tokens; a verified token is remembered until it expires (the revocation
    check still happens on every request, in the rate-limit round trip)."""

    def __init__(self, keys: JwksKeys, *, issuer: str, audience: str, max_entries: int = 50_000):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_entries = max_entries
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Claims of the bearer token in this Authorization header; 401 otherwise."""
        if not authorization:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 4096:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        claims = self._cache.get(token)
        now = time.time()
        if claims is not None and claims["exp"] > now:
            return claims
        claims = decode_access_token(token, self.keys, issuer=self.issuer, audience=self.audience)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache = {t: c for t, c in self._cache.items() if c["exp"] > now}
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
            self._cache[token] = claims
        return claims


class ClientAddress:
    """The client's IP: X-Forwarded-For is believed only when the peer is a configured proxy,
    and then only up to the first hop that is not one."""

    def __init__(self, trusted: Iterable[str]):
        self.trusted = [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in trusted if cidr.strip()]

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def resolve(self, peer: str, forwarded_for: str | None) -> tuple[str, str]:
        """(client ip, the X-Forwarded-For chain to send upstream)."""
        if not self.trusted:
            return peer, peer
        chain = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()] if self.trusted else []
        client = peer
        if self._is_trusted(peer):
            for hop in reversed(chain):
                client = hop
                if not self._is_trusted(hop):
                    break
            try:
                ipaddress.ip_address(client)
            except ValueError:
                client = peer
        upstream_chain = ", ".join([*chain, peer]) if self._is_trusted(peer) else client
        return client, upstream_chain
