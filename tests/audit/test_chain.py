"""The hash-chained audit file: writing, restarts, rotation, tampering, failure policy."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway.app import AUDIT, create_app
from gateway.audit.chain import ChainWriter
from gateway.audit.verify import verify_files
from gateway.settings import AuditSettings

from ..support import bearer, make_settings


def write(path: Path, records: int, **kwargs: Any) -> ChainWriter:
    writer = ChainWriter(path, **kwargs)
    writer.start()
    for n in range(records):
        assert writer.submit({"event": "audit", "n": n})
    writer.close()
    return writer


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def broken_line(*paths: Path) -> int | None:
    _, broken = verify_files(paths)
    return None if broken is None else broken.line


def test_a_fresh_file_starts_with_chain_start_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = write(path, 5)
    records = lines(path)
    assert [r["event"] for r in records] == ["chain_start"] + ["audit"] * 5
    assert records[0]["reason"] == "process_start" and records[0]["prev"] is None
    assert all(r["prev"] == p["hash"] for p, r in itertools.pairwise(records))
    assert broken_line(path) is None and writer.written == 6 and writer.lost == 0


def test_a_restart_continues_the_chain_visibly(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 2)
    write(path, 2)
    records = lines(path)
    restart = records[3]
    assert restart["event"] == "chain_start" and restart["prev"] == records[2]["hash"]
    assert broken_line(path) is None


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 6)
    raw = path.read_bytes().splitlines(keepends=True)
    raw[3] = raw[3].replace(b'"n":2', b'"n":7')
    path.write_bytes(b"".join(raw))
    assert broken_line(path) == 4


def test_an_edited_line_with_a_recomputed_seal_is_caught_at_the_next(tmp_path: Path) -> None:
    from gateway.audit.lines import seal, unseal

    path = tmp_path / "audit.jsonl"
    write(path, 6)
    raw = path.read_bytes().splitlines(keepends=True)
    sealed = unseal(raw[3][:-1])
    assert sealed is not None
    record = orjson.loads(sealed[0])
    prev = record.pop("prev")
    record["n"] = 99
    raw[3] = seal(record, prev)[0] + b"\n"
    path.write_bytes(b"".join(raw))
    assert broken_line(path) == 5


def test_a_deleted_line_is_named_by_its_successor(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 6)
    raw = path.read_bytes().splitlines(keepends=True)
    del raw[2]
    path.write_bytes(b"".join(raw))
    assert broken_line(path) == 3


def test_a_file_that_does_not_start_a_chain_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 3)
    raw = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(raw[1:]))
    assert broken_line(path) == 1


def test_rotation_by_rename_starts_a_new_segment_that_links_back(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = ChainWriter(path)
    writer.start()
    writer.submit({"event": "audit", "n": 0})
    _wait_for(lambda: writer.written == 2)
    rotated = tmp_path / "audit.jsonl.1"
    os.rename(path, rotated)  # what logrotate does (without copytruncate)
    writer.submit({"event": "audit", "n": 1})
    writer.close()
    new = lines(path)
    assert new[0]["event"] == "chain_start" and new[0]["reason"] == "rotated"
    assert new[0]["prev"] == lines(rotated)[-1]["hash"]
    assert broken_line(rotated, path) is None
    assert broken_line(path) is None  # each file also verifies on its own


def test_truncation_is_noticed_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = ChainWriter(path)
    writer.start()
    writer.submit({"event": "audit", "n": 0})
    _wait_for(lambda: writer.written == 2)
    os.truncate(path, 0)  # logrotate's copytruncate
    writer.submit({"event": "audit", "n": 1})
    writer.close()
    assert [r.get("reason") for r in lines(path)] == ["truncated", None]


def test_two_writers_sharing_a_file_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = ChainWriter(path), ChainWriter(path)
    first.start()
    _wait_for(lambda: first.written == 1)
    second.start()
    for n in range(200):
        (first if n % 2 else second).submit({"event": "audit", "n": n})
    first.close()
    second.close()
    assert len(lines(path)) == 202 and broken_line(path) is None


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


async def test_fail_closed_refuses_calls_while_the_file_cannot_be_written(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> None:
    audit = AuditSettings(
        file=str(tmp_path / "missing-dir" / "audit.jsonl"), on_error="fail_closed"
    )
    app = create_app(replace(make_settings(oma_url), audit=audit))
    with capture_logs() as logs:
        gw = await aiohttp_client(app)
        _wait_for(lambda: not app[AUDIT].healthy)
        response = await gw.post(
            "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
        )
        body = await response.json()
    assert response.status == 503 and body["gateway_error"] == "audit_unavailable"
    writer = app[AUDIT].writer
    assert writer is not None
    _wait_for(lambda: writer.lost == 1)  # the refused call's own record
    assert [e["event"] for e in logs].count("audit_write_failed") == 1  # once, not per record
    (tmp_path / "missing-dir").mkdir()
    writer.submit({"event": "audit", "probe": True})  # the next write reopens the file
    _wait_for(lambda: app[AUDIT].healthy)
    response = await gw.post(
        "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert response.status == 200
    await gw.close()
    records = lines(tmp_path / "missing-dir" / "audit.jsonl")
    assert records[0]["event"] == "chain_start" and records[0]["reason"] == "recovered"
    assert records[0]["lost"] == 1


async def test_fail_open_serves_calls_and_counts_what_was_lost(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> None:
    audit = AuditSettings(file=str(tmp_path / "missing-dir" / "audit.jsonl"), on_error="fail_open")
    app = create_app(replace(make_settings(oma_url), audit=audit))
    gw = await aiohttp_client(app)
    _wait_for(lambda: not app[AUDIT].healthy)
    response = await gw.post(
        "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert response.status == 200
    writer = app[AUDIT].writer
    assert writer is not None
    _wait_for(lambda: writer.lost == 1)
    metrics = await (await _admin_metrics(app)).text()
    assert "oma_gateway_audit_healthy 0.0" in metrics
    assert 'oma_gateway_audit_records_total{result="lost"} 1.0' in metrics


async def _admin_metrics(app: Any) -> Any:
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.admin import create_admin_app

    client = TestClient(TestServer(create_admin_app(app)))
    await client.start_server()
    try:
        response = await client.get("/metrics")
        await response.read()
        return response
    finally:
        await client.close()


async def test_shutdown_flushes_every_queued_record(
    aiohttp_client: AiohttpClient, oma_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditSettings(file=str(path), durability="fsync")
    gw = await aiohttp_client(create_app(replace(make_settings(oma_url), audit=audit)))
    for _ in range(20):
        await (await gw.post("/api/get_user", json={"user": "bob@demo.example"},
                             headers=bearer("billing"))).read()  # fmt: skip
    await gw.close()
    records = lines(path)
    assert sum(r["event"] == "audit" for r in records) == 20
    assert broken_line(path) is None
