"""Who the client is when the gateway sits behind an ingress: `X-Forwarded-For`, believed only
as far as the hops are trusted.

Anyone can send `X-Forwarded-For`, so it counts only when the peer itself is a trusted proxy,
and then only up to the rightmost hop that is not one: each trusted proxy appends the address it
saw, so the entries right of that hop were written by proxies we trust, the ones left of it by
whoever the client is (and may be made up). The audit's `remote` and anything that counts per
client address use this address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .settings import IPNetwork

__all__ = ["client_address"]

_MAX_HOPS = 32  # a longer chain is cut: the walk is bounded whatever a client sends


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[IPNetwork, ...]
) -> str | None:
    """The rightmost address in `peer` + X-Forwarded-For that is not a trusted proxy."""
    if not trusted or not _trusted(_parse(peer), trusted):
        return peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",")][-_MAX_HOPS:]
    address = peer
    for hop in reversed(hops):
        ip = _parse(hop)  # each hop parsed once: validity and trust both read it
        if ip is None:
            return address  # garbage from beyond the last proxy we trust: stop at that proxy
        address = hop
        if not _trusted(ip, trusted):
            return hop
    return address


def _parse(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return ip


def _trusted(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, trusted: tuple[IPNetwork, ...]
) -> bool:
    return ip is not None and any(ip in network for network in trusted)
