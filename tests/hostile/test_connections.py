"""What callers' connections can make a real gateway process hold: deadlines, caps, fd limits."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import BODY, Gateway, closed_within, gateway, latency, request_head, stalled


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """client_timeout 1s, keepalive_timeout 3s: deadlines that a test can wait out."""
    with gateway(
        tmp_path_factory.mktemp("quick"), client_timeout="1s", keepalive_timeout="3s"
    ) as gw:
        yield gw
    gw.assert_output_clean()


def test_a_slowloris_trickling_its_headers_is_cut_at_client_timeout(quick: Gateway) -> None:
    with quick.connect() as sock:
        sock.sendall(b"POST /api/get_user HTTP/1.1\r\n")
        start = time.monotonic()
        with contextlib.suppress(OSError):  # a byte every 0.2 s never buys more time
            while time.monotonic() - start < 4:
                sock.sendall(b"X")
                time.sleep(0.2)
        assert time.monotonic() - start < 2.5


def test_a_stalled_body_is_cut_at_client_timeout(quick: Gateway) -> None:
    with quick.connect() as sock:
        sock.sendall(request_head(length=1000) + b'{"user": ')
        closed = closed_within(sock, 4)
        assert closed is not None and 0.5 < closed < 2.5


def test_a_connection_that_never_sends_is_closed_at_client_timeout(quick: Gateway) -> None:
    with quick.connect() as sock:
        closed = closed_within(sock, 4)
        assert closed is not None and 0.5 < closed < 2.5


def test_an_idle_keepalive_connection_lasts_keepalive_timeout_then_closes(
    quick: Gateway,
) -> None:
    with quick.connect() as sock:
        sock.sendall(request_head(length=len(BODY)) + BODY)
        assert b" 200 " in sock.recv(65536)[:20]
        closed = closed_within(sock, 6)  # not client_timeout (1s): no request is under way
        assert closed is not None and 2.0 < closed < 4.5


def test_a_call_on_a_kept_alive_connection_is_served_after_an_idle_pause(quick: Gateway) -> None:
    with quick.connect() as sock:
        for _ in range(2):
            sock.sendall(request_head(length=len(BODY)) + BODY)
            assert b" 200 " in sock.recv(65536)[:20]
            time.sleep(1.5)  # past client_timeout: idle time is keep-alive's, not the deadline's


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway(tmp_path_factory.mktemp("roomy"), client_timeout="30s") as gw:
        yield gw
    gw.assert_output_clean()


def test_with_300_stalled_connections_a_legitimate_call_is_answered_within_100ms(
    roomy: Gateway,
) -> None:
    socks = stalled(roomy, 300, b"POST /api/get_user HTTP/1.1\r\nHost: x\r\n")
    try:
        latencies = [latency(roomy) for _ in range(7)]
    finally:
        for sock in socks:
            sock.close()
    print(f"latencies with 300 stalled: {[round(x * 1000, 1) for x in latencies]} ms")
    assert statistics.median(latencies) < 0.100


@pytest.mark.parametrize("method", ["not a method!", "get_user"])
def test_with_100_stalled_1mib_bodies_of_refused_calls_rss_grows_by_less_than_32mib(
    roomy: Gateway, method: str
) -> None:
    """A call refused before its body is read (a malformed method name, or a bad header key:
    authentication comes before the body) holds only aiohttp's read buffer."""
    before = roomy.rss_mib()
    mib = 1024 * 1024
    head = request_head(method=method.replace(" ", "%20"), length=mib, key="not-a-key")
    socks = stalled(roomy, 100, head + b" " * (mib - 1))
    try:
        time.sleep(1.0)  # let the gateway take in what the sockets hold
        grown = roomy.rss_mib() - before
        assert latency(roomy) < 1.0
    finally:
        for sock in socks:
            sock.close()
    print(f"RSS before {before:.1f} MiB, grew {grown:.1f} MiB with 100 stalled 1 MiB bodies")
    assert grown < 32


def test_1030_idle_connections_under_a_1024_fd_limit_do_not_stop_service(tmp_path: Path) -> None:
    with gateway(tmp_path, fd_limit=1024) as gw:
        socks = [gw.connect() for _ in range(1030)]
        try:
            assert latency(gw) < 2.0
            assert latency(gw) < 2.0
        finally:
            for sock in socks:
                sock.close()
        gw.proc.wait_for("max_connections")
        assert any('"max_connections":480' in line for line in gw.proc.lines)
        assert gw.proc.count("Too many open files") == 0
        gw.assert_output_clean()


def test_beyond_max_connections_the_oldest_idle_one_makes_room(tmp_path: Path) -> None:
    with gateway(tmp_path, max_connections=4) as gw:
        idle = [gw.connect() for _ in range(4)]
        time.sleep(0.3)
        assert latency(gw) < 2.0  # a fifth connection: the oldest idle one was closed for it
        assert closed_within(idle[0], 1) is not None
        for sock in idle:
            sock.close()


def test_beyond_max_connections_with_none_idle_a_new_one_is_refused(tmp_path: Path) -> None:
    with gateway(tmp_path, max_connections=4) as gw:
        busy = stalled(gw, 4, b"POST /api/get_user HTTP/1.1\r\n")  # requests under way
        time.sleep(0.3)
        with gw.connect() as newcomer:
            assert closed_within(newcomer, 2) is not None
        for sock in busy:  # the calls under way were not cut for the newcomer
            sock.sendall(b"Host: x\r\n")
            assert closed_within(sock, 0.3) is None
            sock.close()
        gw.proc.wait_for("connection_refused")
