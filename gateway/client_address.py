"""Who the client is when the gateway sits behind an ingress: `X-Forwarded-For`, believed only
as far as the hops are trusted.

Anyone can send `X-Forwarded-For`, so it counts only when the peer itself is a trusted proxy,
and then only up to the rightmost hop that is not one: each trusted proxy appends the address it
saw, so the entries right of that hop were written by proxies we trust, the ones left of it by
whoever the client is (and may be made up). The audit's `remote` and anything that counts per
client address use this address. `X-Forwarded-Proto` is believed on the same terms: the scheme
the caller used, for the links the gateway writes (a TLS-terminating ingress sends `https`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .settings import IPNetwork

__all__ = ["client_address", "forwarded_scheme"]

_MAX_HOPS = 32  # a longer chain is cut: the walk is bounded whatever a client sends
_NOT_AN_ADDRESS, _UNTRUSTED, _TRUSTED = 0, 1, 2


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[IPNetwork, ...]
) -> str | None:
    """The rightmost address in `peer` + X-Forwarded-For that is not a trusted proxy."""
    if not _trusted_peer(peer, trusted):
        return peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",")][-_MAX_HOPS:]
    address = peer
    for hop in reversed(hops):
        verdict = _verdict(hop, trusted)  # each hop judged once: validity and trust both
        if verdict == _NOT_AN_ADDRESS:
            return address  # garbage from beyond the last proxy we trust: stop at that proxy
        address = hop
        if verdict == _UNTRUSTED:
            return hop
    return address


class _Verdicts:
    """What each address text is for one `trusted` tuple: parsing an address and testing it
    against every network cost microseconds per hop, on every call behind an ingress, for the
    same few texts (the ingress's own addresses, returning clients).

    Bounded whatever clients send: only texts an address can be are kept (at most 64
    characters, a zoned IPv6 address fits), and the table is emptied when it holds
    _MAX_VERDICTS. A new `trusted` tuple (a reload) starts a new table. Read and written on
    the event-loop thread only."""

    __slots__ = ("trusted", "verdicts")

    def __init__(self) -> None:
        self.trusted: tuple[IPNetwork, ...] = ()
        self.verdicts: dict[str, int] = {}


_MAX_VERDICTS = 4096
_LONGEST = 64
_VERDICTS = _Verdicts()


def forwarded_scheme(
    peer: str | None, forwarded_proto: str | None, trusted: tuple[IPNetwork, ...], own: str
) -> str:
    """The scheme the caller used: `own` (the connection's), or a trusted proxy's
    `X-Forwarded-Proto` (its last value, which that proxy wrote) when it is http or https."""
    if forwarded_proto is None or not _trusted_peer(peer, trusted):
        return own
    said = forwarded_proto.rpartition(",")[2].strip().lower()
    return said if said in ("http", "https") else own


def _trusted_peer(peer: str | None, trusted: tuple[IPNetwork, ...]) -> bool:
    """Whether the connection's peer is a proxy whose forwarded headers are believed."""
    return bool(trusted) and peer is not None and _verdict(peer, trusted) == _TRUSTED


def _verdict(text: str, trusted: tuple[IPNetwork, ...]) -> int:
    memo = _VERDICTS
    if memo.trusted is not trusted:
        memo.trusted, memo.verdicts = trusted, {}
    verdict = memo.verdicts.get(text)
    if verdict is None:
        ip = _parse(text)
        verdict = (
            _NOT_AN_ADDRESS if ip is None else _TRUSTED if _trusted(ip, trusted) else _UNTRUSTED
        )
        if len(text) <= _LONGEST:
            if len(memo.verdicts) >= _MAX_VERDICTS:
                memo.verdicts.clear()
            memo.verdicts[text] = verdict
    return verdict


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return ip


def _trusted(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[IPNetwork, ...]
) -> bool:
    return any(ip in network for network in trusted)
