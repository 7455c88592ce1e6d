"""What callers without a header key can make a real gateway process hold (`bodybudget`).

Such a call's body must be read, since OMA clients send their key inside it; before the budget,
each stalled 1 MiB body of one pinned a megabyte for `client_timeout`, renewed at will, and about
170 of them filled a 256 MiB pod. Now they share `max_unidentified_bodies` (16 MiB by default).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..support import KEYS
from .support import Gateway, closed_within, gateway, latency, request_head, stalled

MIB = 1024 * 1024
HELD = "oma_gateway_unidentified_body_bytes"
REFUSED = "oma_gateway_unidentified_bodies_refused_total"
SHORT = 8  # bytes of each stalled body never sent, so none is ever whole


def _stalled_without_key(gw: Gateway, count: int, size: int = MIB) -> list[socket.socket]:
    """`count` connections each sending all but a few bytes of a `size` body, no key header."""
    return stalled(gw, count, request_head(length=size, key=None) + b" " * (size - SHORT))


def _body_credentials(pad: int = 0) -> bytes:
    """A get_user body with the key inside it, as OMA client libraries send it."""
    credentials = {"user": "billing", "password": KEYS["billing"]}
    body = {"credentials": credentials, "user": "alice@demo.example", "x": " " * pad}
    return json.dumps(body).encode()


def _until(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_with_100_stalled_1mib_bodies_without_a_header_key_rss_grows_by_less_than_32mib(
    tmp_path: Path,
) -> None:
    with gateway(tmp_path, client_timeout="30s") as gw:
        assert gw.call("get_user", _body_credentials())[0] == 200  # warm: both kinds of caller
        assert latency(gw) < 1.0
        before = gw.rss_mib()
        socks = _stalled_without_key(gw, 100)
        try:
            time.sleep(1.0)  # let the gateway take in what the sockets hold
            grown, held, refused = gw.rss_mib() - before, gw.metric(HELD), gw.metric(REFUSED)
            served = latency(gw)  # a caller with a header key is not counted: served meanwhile
        finally:
            _close(socks)
        print(
            f"no header key: RSS before {before:.1f} MiB, grew {grown:.1f} MiB with 100 stalled"
            f" 1 MiB bodies; {held / MIB:.1f} MiB held, {refused:.0f} refused;"
            f" a header-key call took {served * 1000:.1f} ms"
        )
        assert grown < 32 and served < 1.0
        assert held <= 16 * MIB and held == (100 - refused) * (MIB - SHORT)  # the rest refused
        assert _until(lambda: gw.metric(HELD) == 0)  # closed: every share given back
        assert gw.call("get_user", _body_credentials())[0] == 200
        later = _stalled_without_key(gw, 10)
        try:  # a later burst within the budget is taken whole again
            assert _until(lambda: gw.metric(HELD) == 10 * (MIB - SHORT))
            assert gw.metric(REFUSED) == refused
        finally:
            _close(later)
        gw.assert_output_clean()


def test_bodies_cut_at_client_timeout_give_their_share_back(tmp_path: Path) -> None:
    with gateway(tmp_path, client_timeout="1s") as gw:
        socks = _stalled_without_key(gw, 20)  # 16 MiB held, the rest refused
        try:
            assert gw.metric(HELD) > 0
            assert _until(lambda: gw.metric(HELD) == 0, seconds=4)
            assert all(closed_within(sock, 1) is not None for sock in socks)  # cut, not closed
        finally:
            _close(socks)
        assert gw.call("get_user", _body_credentials())[0] == 200
        gw.assert_output_clean()


def _exchange(sock: socket.socket, payload: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """Status line, headers and body of the answer to `payload`, read until the peer closes."""
    sock.sendall(payload)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status.encode(), headers, body


def test_past_the_budget_a_call_without_a_header_key_is_refused_at_once_and_closed(
    tmp_path: Path,
) -> None:
    with gateway(tmp_path, max_unidentified_bodies="100KiB") as gw:
        holder = _stalled_without_key(gw, 1, size=91 * 1024)  # 90 KiB of the 100 held
        try:
            assert _until(lambda: gw.metric(HELD) == 91 * 1024 - SHORT)
            body = _body_credentials(pad=20 * 1024)
            with gw.connect() as sock:
                status, headers, answer = _exchange(
                    sock, request_head(length=len(body), key=None) + body
                )
            assert status == b"HTTP/1.1 429 Too Many Requests"
            assert headers["Connection"] == "close"  # and the peer closed: _exchange returned
            assert headers["Retry-After"] == "1"
            assert headers["RateLimit-Policy"] == f'"unidentified_bodies";q={100 * 1024}'
            envelope = json.loads(answer)
            assert envelope["gateway_error"] == "rate_limited" and envelope["success"] is False
            assert set(envelope) == {"success", "error_number", "error", "gateway_error"}
            assert gw.metric(REFUSED) == 1 and gw.metric(HELD) == 91 * 1024 - SHORT
            padded = json.dumps({"user": "alice@demo.example", "x": " " * 20 * 1024}).encode()
            with_key = {"Authorization": "Bearer " + KEYS["billing"]}
            assert gw.call("get_user", padded, with_key)[0] == 200  # a header key: not counted
        finally:
            _close(holder)
        assert _until(lambda: gw.metric(HELD) == 0)
        assert gw.call("get_user", _body_credentials(pad=20 * 1024))[0] == 200
        gw.assert_output_clean()
