"""Signed checkpoints: each tampering an insider with write access would try fails
`audit verify --public-key`, naming the first line nothing vouches for."""

from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.audit.chain import ChainWriter
from gateway.audit.lines import seal
from gateway.audit.sign import Signer

from ..support import cli
from .trail import (
    index_of,
    last_checkpoint_before,
    make_key,
    records,
    records_of,
    reseal_from,
    signed_writer,
    wait_for,
    write_bursts,
)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_key(tmp_path_factory.mktemp("key"))


def verify(
    *paths: Path, public: Path | None = None, head: str | None = None, also: Path | None = None
) -> tuple[int, str]:
    """`audit verify` on `paths`; `also` is a second `--public-key` (a rotated signing key)."""
    args = ["audit", "verify", *map(str, paths)]
    for pem in (public, also):
        args += ["--public-key", str(pem)] if pem else []
    args += ["--expect-head", head] if head else []
    result = cli(*args)
    return result.returncode, result.stdout + result.stderr


def assert_signed_intact(path: Path, public: Path, also: Path | None = None) -> None:
    code, out = verify(path, public=public, also=also)
    assert code == 0, out
    assert "checkpoints verified" in out


def test_keygen_writes_a_private_key_only_its_owner_reads(key: tuple[Path, Path]) -> None:
    private, public = key
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in public.read_text()


def test_an_intact_signed_trail_verifies_and_every_record_is_covered(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    kinds = [r["event"] for r in records(path)]
    assert kinds[-1] == "checkpoint" and kinds.count("checkpoint") >= 3
    assert_signed_intact(path, key[1])


def test_a_rewritten_record_resealed_fails_at_the_checkpoint_that_signed_it(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    raw = path.read_bytes().splitlines(keepends=True)
    target = index_of(raw, n=5)  # the record rewritten() edits
    path.write_bytes(rewritten(path.read_bytes()))
    assert verify(path)[0] == 0  # the bare hash chain is fooled: that is why checkpoints exist
    code, out = verify(path, public=key[1])
    first_unvouched = last_checkpoint_before(raw, target) + 2  # 1-based, after that checkpoint
    assert code == 1 and f"broken at line {first_unvouched}:" in out, out
    assert "does not verify" in out


def rewritten(trail: bytes) -> bytes:
    """The trail with record n=5's `change_user` made a harmless-looking `get_user` and every
    line from there re-sealed, as an insider without the signing key would."""
    raw = trail.splitlines(keepends=True)
    target = index_of(raw, n=5)
    raw[target] = raw[target].replace(b'"change_user"', b'"get_user"')
    return b"".join(reseal_from(raw, target))


def test_a_deleted_record_resealed_fails(tmp_path: Path, key: tuple[Path, Path]) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    raw = path.read_bytes().splitlines(keepends=True)
    target = index_of(raw, n=6)
    del raw[target]
    path.write_bytes(b"".join(reseal_from(raw, target)))
    assert verify(path)[0] == 0
    code, out = verify(path, public=key[1])
    assert code == 1 and f"broken at line {last_checkpoint_before(raw, target) + 2}:" in out


def test_the_first_segment_cut_away_fails_at_line_1(tmp_path: Path, key: tuple[Path, Path]) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0], bursts=1)
    write_bursts(path, key[0], bursts=1)  # a restart: a second segment in the same file
    raw = path.read_bytes().splitlines(keepends=True)
    restart = index_of(raw[1:], event="chain_start") + 1
    path.write_bytes(b"".join(raw[restart:]))  # no re-sealing: the restart's prev is unchecked
    code, out = verify(path, public=key[1])
    assert code == 1 and "broken at line 1:" in out and "removed" in out


def test_records_cut_from_the_end_fail_against_the_head_stdout_holds(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    with capture_logs() as logs:
        write_bursts(path, key[0])
    heads = [e["head"] for e in logs if e["event"] == "checkpoint"]
    raw = path.read_bytes().splitlines(keepends=True)
    assert [records_of(r)["head"] for r in raw if b'"checkpoint"' in r] == heads
    cut = last_checkpoint_before(raw, len(raw) - 1) + 1  # at a checkpoint: no unsigned tail
    path.write_bytes(b"".join(raw[:cut]))
    assert verify(path, public=key[1])[0] == 0  # cut at a signature, the file alone cannot tell
    code, out = verify(path, public=key[1], head=heads[-1])
    assert code == 1 and f"broken at line {cut}:" in out and "cut from the end" in out


def test_a_forged_record_appended_is_an_unsigned_tail(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    last = records(path)[-1]["hash"]
    forged, _ = seal({"event": "audit", "caller": "ops", "method": "delete_domain"}, last)
    lines = len(records(path))
    with path.open("ab") as file:
        file.write(forged + b"\n")
    assert verify(path)[0] == 0
    code, out = verify(path, public=key[1])
    assert code == 1 and f"broken at line {lines + 1}:" in out and "unsigned tail of 1" in out


def test_a_checkpoint_forged_with_another_key_fails(tmp_path: Path, key: tuple[Path, Path]) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    other, _ = make_key(tmp_path)
    last = records(path)[-1]["hash"]
    forged, head = seal({"event": "audit", "method": "delete_domain"}, last)
    checkpoint, _ = seal(Signer(other.read_text(), "x").checkpoint(head), head)
    with path.open("ab") as file:
        file.write(forged + b"\n" + checkpoint + b"\n")
    code, out = verify(path, public=key[1])
    assert code == 1 and "not this key" in out


def _ends_with_checkpoint(path: Path) -> bool:
    """The file's last line is a checkpoint (the writer may have created it and written
    nothing yet, or be writing: not an error, only not yet)."""
    try:
        lines = records(path) if path.exists() else []
    except ValueError:  # a line caught mid-write (orjson's decode error is a ValueError)
        return False
    return bool(lines) and lines[-1]["event"] == "checkpoint"


def test_a_checkpoint_follows_records_within_the_interval_and_at_close(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    writer = signed_writer(path, key[0], interval=0.2)
    writer.submit({"event": "audit", "n": 1})
    wait_for(lambda: _ends_with_checkpoint(path), timeout=5)
    writer.submit({"event": "audit", "n": 2})
    writer.close()
    assert records(path)[-1]["event"] == "checkpoint"
    assert verify(path, public=key[1])[0] == 0


def test_without_a_key_a_file_has_no_checkpoints_and_public_key_verify_says_so(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    from .test_chain import write

    path = tmp_path / "audit.jsonl"
    write(path, 3)
    assert all(r["event"] != "checkpoint" for r in records(path))
    assert verify(path)[0] == 0
    code, out = verify(path, public=key[1])
    assert code == 1 and "unsigned tail of 4 lines" in out


def test_a_verify_that_cannot_run_exits_2_not_1(tmp_path: Path, key: tuple[Path, Path]) -> None:
    """1 means "the trail is broken"; a missing file or an unusable key is not that verdict."""
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    code, out = verify(tmp_path / "missing.jsonl", public=key[1])
    assert code == 2 and "missing.jsonl" in out
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key\n")
    for bad in (garbage, key[0], tmp_path / "absent.pub"):  # key[0]: the private key, by mistake
        code, out = verify(path, public=bad)
        assert code == 2 and bad.name in out, out
        assert "PRIVATE" not in out and key[0].read_text().splitlines()[1] not in out


def test_a_vanished_audit_volume_is_not_retried_in_a_busy_loop(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    writer = signed_writer(directory / "audit.jsonl", key[0], interval=0.05)
    wait_for(lambda: writer.written == 1)
    directory.rename(tmp_path / "gone")  # the volume went away under the writer
    writer.submit({"event": "audit", "n": 1})
    wait_for(lambda: writer.write_errors >= 1)
    time.sleep(0.5)
    assert writer.write_errors < 30 and writer.healthy is False
    writer.close()


def _thread_cpu_seconds(name: str) -> float:
    thread = next(t for t in threading.enumerate() if t.name == name)
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_without_a_key_an_idle_writer_sleeps_past_the_checkpoint_interval(
    tmp_path: Path,
) -> None:
    """Without a signing key no checkpoint ever comes: the writer used to wake without pause
    once a line had waited `checkpoint_interval` for one, a core spinning for good."""
    writer = ChainWriter(tmp_path / "audit.jsonl", checkpoint_interval=0.05)
    writer.start()
    writer.submit({"event": "audit", "n": 1})
    wait_for(lambda: writer.written == 2)  # chain_start and the record
    time.sleep(0.1)  # past the interval
    before = _thread_cpu_seconds("audit-writer")
    time.sleep(1.0)
    spent = _thread_cpu_seconds("audit-writer") - before
    writer.close()
    assert spent < 0.1, f"the idle writer spent {spent:.2f} s of CPU in 1 s"


def test_a_trail_signed_across_a_key_rotation_verifies_with_both_keys_only(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    new_private, new_public = make_key(rotated)  # the key the next writer signs with
    write_bursts(path, new_private)  # a restart with the new key: the same chain, continued
    code, out = verify(path, public=key[1])
    assert code == 1 and "one of the keys given" not in out and "it names key" in out, out
    assert_signed_intact(path, key[1], also=new_public)


def test_a_rotated_file_compressed_by_logrotate_verifies_as_its_text(
    tmp_path: Path, key: tuple[Path, Path]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_bursts(path, key[0])
    compressed = tmp_path / "audit.jsonl.1.gz"
    compressed.write_bytes(gzip.compress(path.read_bytes()))
    assert_signed_intact(compressed, key[1])
    compressed.write_bytes(gzip.compress(rewritten(path.read_bytes())))
    code, out = verify(compressed, public=key[1])
    assert code == 1 and "does not verify" in out, out
    compressed.write_bytes(gzip.compress(path.read_bytes())[:-20])  # cut short: no verdict
    assert verify(compressed, public=key[1])[0] == 2
