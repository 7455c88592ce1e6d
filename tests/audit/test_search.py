"""`oma-gateway audit search`: a reviewer's questions over rotated and compressed files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from gateway.audit.chain import ChainWriter

from ..support import cli

RECORDS = [
    {"caller": "helpdesk", "method": "change_user", "result": "success",
     "time": "2026-10-03T10:00:00+00:00", "targets": {"user": "alice@customers.example"}},
    {"caller": "billing", "method": "get_user", "result": "success",
     "time": "2026-11-02T10:00:00+00:00", "targets": {"user": "bob@customers.example"}},
    {"caller": "helpdesk", "method": "delete_user", "result": "refused",
     "time": "2026-11-05T10:00:00+00:00", "targets": {"ids": ["x", "Alice@Customers.example"]}},
    {"caller": "ops", "method": "get_domain", "result": "success",
     "time": "2026-11-20T10:00:00+00:00", "targets": {"domain": "customers.example"}},
]  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    """Two records in a rotated, gzipped file, two in the current one."""
    old, new = tmp_path / "audit.jsonl.1", tmp_path / "audit.jsonl"
    for path, part in ((old, RECORDS[:2]), (new, RECORDS[2:])):
        writer = ChainWriter(path)
        writer.start()
        for record in part:
            writer.submit({"event": "audit", **record})
        writer.close()
    compressed = tmp_path / "audit.jsonl.1.gz"
    compressed.write_bytes(gzip.compress(old.read_bytes()))
    old.unlink()
    return [compressed, new]


def search(files: list[Path], *filters: str) -> list[str]:
    result = cli("audit", "search", *map(str, files), *filters)
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["method"] for line in result.stdout.splitlines()]


def test_every_record_without_filters_and_no_chain_records(files: list[Path]) -> None:
    assert search(files) == ["change_user", "get_user", "delete_user", "get_domain"]


def test_who_touched_a_mailbox_case_insensitively(files: list[Path]) -> None:
    assert search(files, "--target", "alice@customers.example") == ["change_user", "delete_user"]


def test_a_target_pattern_and_a_time_range(files: list[Path]) -> None:
    found = search(files, "--target", "*@customers.example", "--since", "2026-11-01",
                   "--until", "2026-12-01")  # fmt: skip
    assert found == ["get_user", "delete_user"]


def test_caller_method_and_result(files: list[Path]) -> None:
    assert search(files, "--caller", "helpdesk") == ["change_user", "delete_user"]
    assert search(files, "--caller", "helpdesk", "--result", "refused") == ["delete_user"]
    assert search(files, "--method", "get_domain") == ["get_domain"]


def test_a_bad_time_is_refused(files: list[Path]) -> None:
    result = cli("audit", "search", str(files[1]), "--since", "last month")
    assert result.returncode == 2 and "--since" in result.stderr


def test_a_missing_file_exits_2(files: list[Path], tmp_path: Path) -> None:
    result = cli("audit", "search", str(files[1]), str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "missing.jsonl" in result.stderr
