"""The audit record's stdout line: rendered once, batched, the chain's own line to the byte."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway import logs
from gateway.app import create_app
from gateway.audit import AuditTrail
from gateway.audit.encode import encode
from gateway.audit.verify import verify_files
from gateway.call import Call
from gateway.secrets import Secret
from gateway.settings import AuditSettings, Settings, StoreSettings

from ..support import KEYS, Client, bearer, make_settings
from .trail import records

_STAMP = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z)"')


class Writes(io.BytesIO):
    """A stream that keeps each write apart, to see how the lines were batched."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return super().write(data)


@pytest.fixture
def stream() -> Iterator[Writes]:
    out = Writes()
    logs.configure(stream=out, cache=False)
    yield out
    structlog.reset_defaults()


@pytest.fixture
async def audited(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> tuple[Client, Path, Settings]:
    path = tmp_path / "audit.jsonl"
    settings = make_settings(oma_url, audit=AuditSettings(file=str(path)))
    return await aiohttp_client(create_app(settings)), path, settings


def a_call(n: int = 0) -> Call:
    call = Call(f"r-{n}", "127.0.0.1", method="get_user", body={"user": "alice@demo.example"})
    call.answer, call.status, call.duration = {"success": True}, 200, 0.001
    call.presented_key = Secret(KEYS["billing"])
    return call


def lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


def unstamped(line: bytes) -> bytes:
    return _STAMP.sub(b'"timestamp":"T"', line)


async def test_the_line_is_the_one_structlogs_chain_renders_for_the_record(
    audited: tuple[Client, Path, Settings], stream: Writes
) -> None:
    gw, path, _ = audited
    response = await gw.post("/api/get_user", json={"user": "bob@demo.example"},
                             headers={**bearer("billing"), "X-Request-ID": "r-1"})  # fmt: skip
    await response.read()
    await gw.close()
    (line,) = [x for x in stream.getvalue().splitlines() if b'"event":"audit"' in x]
    added = ("event", "level", "timestamp")
    record = {k: v for k, v in orjson.loads(line).items() if k not in added}
    before = len(stream.getvalue())
    structlog.get_logger("gateway.audit").info("audit", **record, _already_redacted=True)
    chain = stream.getvalue()[before:].rstrip(b"\n")
    assert unstamped(line) == unstamped(chain)  # same fields, same order, same spelling
    assert _STAMP.search(line) is not None
    (filed,) = [r for r in records(path) if r["event"] == "audit"]
    assert {k: v for k, v in filed.items() if k not in ("prev", "hash", "event")} == record
    assert verify_files([path])[1] is None


async def test_the_lines_of_one_loop_iteration_go_out_in_one_write(stream: Writes) -> None:
    trail = AuditTrail(AuditSettings())
    for n in range(5):
        trail.observe(a_call(n))
    assert stream.writes == []  # queued until the loop turns
    await asyncio.sleep(0)
    (batch,) = stream.writes
    assert [r["request_id"] for r in lines(batch)] == [f"r-{n}" for n in range(5)]


async def test_a_line_logged_meanwhile_follows_the_queued_ones_whole(stream: Writes) -> None:
    trail = AuditTrail(AuditSettings())
    trail.observe(a_call(1))
    trail.observe(a_call(2))
    structlog.get_logger("any").warning("something_happened")
    events = [(r["event"], r.get("request_id")) for r in lines(stream.getvalue())]
    assert events == [("audit", "r-1"), ("audit", "r-2"), ("something_happened", None)]
    await asyncio.sleep(0)
    assert len(lines(stream.getvalue())) == 3  # nothing written twice


async def test_closing_the_trail_writes_every_queued_line(stream: Writes) -> None:
    trail = AuditTrail(AuditSettings())
    for n in range(3):
        trail.observe(a_call(n))
    await trail.close()  # before the loop turned
    assert [r["request_id"] for r in lines(stream.getvalue())] == ["r-0", "r-1", "r-2"]


def test_outside_an_event_loop_the_line_is_written_at_once(stream: Writes) -> None:
    AuditTrail(AuditSettings()).observe(a_call(7))
    assert [r["request_id"] for r in lines(stream.getvalue())] == ["r-7"]


async def test_below_the_configured_level_there_is_no_audit_line(stream: Writes) -> None:
    logs.configure(stream=stream, cache=False, level=logging.WARNING)
    AuditTrail(AuditSettings()).observe(a_call())
    await asyncio.sleep(0)
    assert stream.getvalue() == b""


async def test_capture_logs_still_sees_the_record_as_an_event(stream: Writes) -> None:
    with capture_logs() as captured:
        AuditTrail(AuditSettings()).observe(a_call(3))
    await asyncio.sleep(0)
    assert [(e["event"], e["request_id"]) for e in captured] == [("audit", "r-3")]
    assert stream.getvalue() == b""


async def test_keys_passwords_and_tokens_reach_neither_stdout_nor_the_file(
    audited: tuple[Client, Path, Settings], stream: Writes, oma: Any
) -> None:
    gw, path, settings = audited
    await (await gw.post("/api/get_user", json={"user": "bob@demo.example"},
                         headers=bearer("billing"))).read()  # fmt: skip
    token, password = oma.requests[-1].token, settings.upstreams["oma"].password.reveal()
    wrong = "omagw_a_mistyped_key_that_is_still_a_secret_000"
    for headers, body in [
        ({"X-API-Key": wrong, "X-Request-ID": wrong}, {"user": wrong}),
        ({**bearer("billing"), "X-Request-ID": KEYS["billing"]}, {"user": KEYS["billing"]}),
        (bearer("support"), {"user": f"x{token}y", "new_name": password, "ids": [token]}),
    ]:
        await (await gw.post("/api/get_user", json=body, headers=headers)).read()
    await gw.close()
    out, filed = stream.getvalue(), path.read_bytes()
    assert len([r for r in lines(out) if r["event"] == "audit"]) == 4
    for secret in (wrong, KEYS["billing"], token, password):
        assert secret.encode() not in out and secret.encode() not in filed


async def test_the_stores_password_and_keys_reach_neither_stdout_nor_the_file(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path, stream: Writes
) -> None:
    """Like the OMA password: cut from every line, whoever puts them there."""
    held = ["redis-password-of-the-store", "c3RvcmUta2V5LW9mLXRoZS1zdG9yZS0zMi1ieXRlcyE=",
            "cHJldmlvdXMta2V5LW9mLXRoZS1zdG9yZS0zMi1ieSE="]  # fmt: skip
    store = StoreSettings(
        password=Secret(held[0]),
        encryption_key=Secret(held[1]),
        previous_encryption_keys=(Secret(held[2]),),
    )
    path = tmp_path / "audit.jsonl"
    settings = make_settings(oma_url, audit=AuditSettings(file=str(path)), store=store)
    gw = await aiohttp_client(create_app(settings))
    body = {"user": held[0], "new_name": f"x{held[1]}y", "ids": held}
    assert (await gw.post("/api/get_user", json=body, headers=bearer("billing"))).status == 200
    structlog.get_logger("anything").warning("a_line_that_quotes_them", said=" ".join(held))
    await gw.close()
    out, filed = stream.getvalue(), path.read_bytes()
    assert [r["event"] for r in lines(out)].count("a_line_that_quotes_them") == 1
    for secret in held:
        assert secret.encode() not in out and secret.encode() not in filed


def test_the_file_line_is_encodes_line_to_the_byte() -> None:
    from gateway.audit.encode import event_body, with_event

    record = {"time": "t", "request_id": "a\u2028b\u0085", "n": 1, "x": None, "d": {"k": [1.5]}}
    body = event_body(record, "audit")
    assert body is not None
    assert with_event(body, "audit") == encode({"event": "audit", **record})
    assert event_body({"big": "x" * 70_000}, "audit") is None  # too long: encode shortens it


@pytest.mark.parametrize(
    "ns",
    [0, 999, 1_000, 1_796_173_573_000_000_000, 1_796_173_573_726_317_999, 1_796_173_599_999_999_999,
     4_102_444_800_000_001_000],
)  # fmt: skip
def test_the_timestamp_is_spelled_as_structlogs_timestamper_spells_it(ns: int) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.audit.stdout import stamp

    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)  # floored
    assert stamp(ns) == at.isoformat().replace("+00:00", "Z")
    assert stamp(ns) == stamp(ns)  # the same from the per-second cache
