"""Everything a real gateway process writes is one JSON object a line, with no secret in it,
whatever its libraries say; repeated lines are budgeted."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from gateway import logs

from ..support import KEYS
from .support import closed_within, gateway


def test_a_malformed_bearer_header_puts_the_key_on_no_output_line(tmp_path: Path) -> None:
    key = KEYS["billing"]
    with gateway(tmp_path) as gw:
        for header in (f"Bearer {key}\x01", f"Bearer {key}\x7f", f"{key}\x00"):
            with gw.connect() as sock:
                sock.sendall(
                    b"POST /api/get_user HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                    + b"Authorization: " + header.encode() + b"\r\n\r\n{}"
                )  # fmt: skip
                assert closed_within(sock, 3) is not None
        with gw.connect() as sock:  # the key as X-API-Key, then a bad byte in another header
            sock.sendall(
                f"POST /api/get_user HTTP/1.1\r\nX-API-Key: {key}\r\nX-Bad: a\x01\r\n\r\n".encode()
            )
            assert closed_within(sock, 3) is not None
        gw.proc.wait_for("Error handling request", count=4)
    assert sum("aiohttp.server" in line for line in gw.proc.lines) >= 4
    gw.assert_output_clean()


@pytest.fixture
def stream() -> Iterator[io.BytesIO]:
    out = io.BytesIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logs.configure(stream=out, cache=False, stdlib=True)
    yield out
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _lines(stream: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_storm_of_one_error_is_a_bounded_number_of_lines(stream: io.BytesIO) -> None:
    accept = logging.getLogger("asyncio")
    for _ in range(18_552):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            accept.exception("socket.accept() out of system resource")
    lines = _lines(stream)
    assert 1 <= len(lines) <= 10
    assert all(line["logger"] == "asyncio" and "Too many open files" in str(line) for line in lines)


def test_after_the_window_the_next_line_says_how_many_were_suppressed() -> None:
    budget = logs.LineBudget(per_window=2, window=0.2)
    event = {"event": "boom", "logger": "x"}
    kept = [budget(None, "error", dict(event)) for _ in range(2)]
    assert len(kept) == 2
    for _ in range(5):
        with pytest.raises(structlog.DropEvent):
            budget(None, "error", dict(event))
    time.sleep(0.25)
    assert budget(None, "error", dict(event))["suppressed"] == 5


def test_info_lines_such_as_audit_records_are_never_budgeted() -> None:
    budget = logs.LineBudget(per_window=1, window=60)
    for _ in range(50):
        assert budget(None, "info", {"event": "audit"}) == {"event": "audit"}


def test_stdlib_lines_are_redacted_json_on_the_same_stream(stream: io.BytesIO) -> None:
    key = KEYS["support"]
    logging.getLogger("aiohttp.server").error("bad header: b'Bearer %s\\x01'", key)
    logging.getLogger("redis").warning("connect to redis://:%s@host failed token=%s", key, key)
    lines = _lines(stream)
    assert [line["logger"] for line in lines] == ["aiohttp.server", "redis"]
    assert key not in stream.getvalue().decode()
