"""The client address at the edge, unspoofable."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


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
        chain = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
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
