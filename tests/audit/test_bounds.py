"""The writer never stops for a record's content: deep bodies, Unicode line breaks, huge
anonymous bodies, unencodable values; the queue is bounded by bytes."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from pytest_aiohttp import AiohttpClient

from gateway import logs
from gateway.app import AUDIT, create_app
from gateway.audit.chain import ChainWriter
from gateway.audit.encode import MAX_LINE, encode
from gateway.audit.verify import verify_files
from gateway.settings import AuditSettings

from ..support import Client, bearer, make_settings
from .trail import records, wait_for


@pytest.fixture
async def audited(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> tuple[Client, Path]:
    path = tmp_path / "audit.jsonl"
    settings = make_settings(oma_url, audit=AuditSettings(file=str(path), durability="fsync"))
    return await aiohttp_client(create_app(settings)), path


def nested(depth: int) -> Any:
    value: Any = "deep@demo.example"
    for _ in range(depth):
        value = [value]
    return value


async def post(gw: Client, method: str, body: bytes, caller: str | None) -> int:
    headers = bearer(caller) if caller else {}
    response = await gw.post(f"/api/{method}", data=body, headers=headers)
    await response.read()
    return response.status


async def audit_lines(gw: Client, path: Path) -> list[dict[str, Any]]:
    await gw.close()  # every record flushed and the trail closed
    _, broken = verify_files([path])
    assert broken is None, broken
    return [r for r in records(path) if r["event"] == "audit"]


@pytest.mark.parametrize("depth", [253, 600])
async def test_a_deep_body_is_audited_flat_and_the_file_keeps_receiving(
    audited: tuple[Client, Path], depth: int
) -> None:
    gw, path = audited
    body = json.dumps({"user": "bob@demo.example", "ids": nested(depth)}).encode()
    statuses = [
        await post(gw, "get_user", body, None),  # refused before the caller is known
        await post(gw, "get_user", body, "support"),
        await post(gw, "get_user", b'{"user": "bob@demo.example"}', "billing"),
    ]
    # Bodies nested deeper than 64 levels are refused as malformed before anything else reads
    # them (gateway.app.within_depth): both are audited, without targets, and the file goes on.
    assert statuses == [400, 400, 200]
    anonymous, known, after = await audit_lines(gw, path)
    assert anonymous["gateway_error"] == known["gateway_error"] == "bad_request"
    assert anonymous["targets"] == {} and known["targets"] == {}
    assert after["caller"] == "billing" and after["status"] == 200


async def test_unicode_line_breaks_are_escaped_in_the_file_and_on_stdout(
    audited: tuple[Client, Path],
) -> None:
    gw, path = audited
    stream = io.BytesIO()
    logs.configure(stream=stream, cache=False)
    try:
        user = "a\u2028b\u2029c\u0085d@demo.example"
        await post(gw, "get_user", orjson.dumps({"user": user}), "billing")
        assert await post(gw, "get_user", b'{"user": "bob@demo.example"}', "billing") == 200
        record, after = await audit_lines(gw, path)
    finally:
        logs.configure(cache=False)
    assert record["targets"]["user"] == user  # the same value, escaped on the line
    assert after["targets"]["user"] == "bob@demo.example"  # and the file goes on receiving
    for data in (path.read_bytes(), stream.getvalue()):
        assert "\u2028" not in data.decode() and "\u0085" not in data.decode()
        text = data.decode()
        assert text.splitlines() == text.split("\n")[:-1]  # every consumer sees the same lines
        assert b"\\u2028" in data


async def test_megabyte_anonymous_bodies_cost_the_file_only_their_own_small_lines(
    audited: tuple[Client, Path],
) -> None:
    gw, path = audited
    body = orjson.dumps({"user": "x@demo.example", "ids": [f"id-{n:08d}" for n in range(70000)]})
    assert 900_000 < len(body) <= 1024 * 1024
    for _ in range(20):
        assert await post(gw, "get_user", body, None) == 401
    assert await post(gw, "get_user", b'{"user": "bob@demo.example"}', "billing") == 200
    lines = await audit_lines(gw, path)
    assert len(lines) == 21 and all(r["targets"] == {} for r in lines[:20])
    assert path.stat().st_size < 20 * 2048  # 20 MB in, a few KB written


async def test_a_known_callers_huge_target_list_is_cut_and_marked(
    audited: tuple[Client, Path],
) -> None:
    gw, path = audited
    body = orjson.dumps({"user": "x@demo.example", "ids": ["i" * 500] * 2000})
    await post(gw, "restore_deleted_messages", body, "support")  # ids[] are its targets
    (record,) = await audit_lines(gw, path)
    assert record["truncated"] is True
    assert 0 < len(record["targets"]["ids"]) < 2000
    assert max(len(line) for line in path.read_bytes().splitlines()) < MAX_LINE


def test_an_unencodable_record_is_written_shortened_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = ChainWriter(path)
    writer.start()
    writer.submit({"event": "audit", "caller": "ops", "outcome": {"odd": 2**70, "s": "\ud800"}})
    writer.submit({"event": "audit", "caller": "ops", "nested": nested(300)})
    writer.submit({"event": "audit", "caller": "ops", "n": 3})
    writer.close()
    first, second, third = (r for r in records(path) if r["event"] == "audit")
    assert first == {**first, "truncated": True, "truncated_reason": "unencodable", "caller": "ops"}
    assert second["truncated_reason"] == "unencodable"
    assert third["n"] == 3 and writer.lost == 0
    assert verify_files([path])[1] is None


def test_an_oversized_record_is_shortened_to_the_line_cap() -> None:
    line = encode({"event": "audit", "caller": "ops", "blob": "x" * (2 * MAX_LINE)})
    assert len(line) < MAX_LINE and orjson.loads(line)["truncated_reason"] == "too_large"


def test_the_queue_is_bounded_by_bytes_and_close_counts_what_it_drops(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path / "audit.jsonl", max_queue_bytes=1024 * 1024)
    big = {"event": "audit", "blob": "x" * 60000}
    accepted = sum(writer.submit(big) for _ in range(100))  # nobody drains it: not started
    assert writer.queue_bytes <= 1024 * 1024 and 10 <= accepted < 20
    assert writer.lost == 100 - accepted
    assert not writer.healthy  # not keeping up: the queue is full
    writer.close()
    assert writer.lost == 100  # what was queued and never written is counted too
    assert not writer.submit(big) and writer.lost == 101


async def test_healthy_means_the_writer_thread_is_alive(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> None:
    audit = AuditSettings(file=str(tmp_path / "audit.jsonl"))
    app = create_app(replace(make_settings(oma_url), audit=audit))
    gw = await aiohttp_client(app)
    writer = app[AUDIT].writer
    assert writer is not None
    wait_for(lambda: writer.written == 1)
    assert app[AUDIT].healthy
    await gw.close()  # the thread stops
    assert not app[AUDIT].healthy
