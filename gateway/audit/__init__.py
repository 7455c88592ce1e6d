"""The compliance audit trail: one redacted record per call, to stdout and a hash-chained file.

    record.py  what a record says (who, what, which objects, how it went)
    redact.py  secrets out of every record and every log line
    encode.py  every record bounded, encodable and one line (U+2028 and kin escaped)
    stdout.py  the stdout side: one writer for every log line, the record's own line batched
    lines.py   the sealed line: hash, prev, and finding the last good one in a file
    chain.py   the writer thread: byte-bounded queue, checkpoints due, health
    segment.py the file under its lock: rotation, restarts, torn-line recovery
    sign.py    Ed25519 checkpoints (and `audit keygen`)
    verify.py  `oma-gateway audit verify`
    search.py  `oma-gateway audit search`
    cli.py     the `audit` sub-commands

`AuditTrail` is an observer of the gateway (it sees each finished `Call`). With
`audit.on_error: fail_closed`, calls are refused (503 `audit_unavailable`) while the file cannot be
written, rather than served unaudited (Vault's choice); with `fail_open` (the default) they are
served, and the failure is metered and logged once per change of state.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ..call import Call
from ..errors import AuditUnavailable
from ..settings import AuditSettings
from . import stdout
from .chain import ChainWriter
from .encode import bound_record, event_body, with_event
from .record import FOREIGN_FIELDS, build_record
from .redact import ALREADY_REDACTED, REDACTOR, Redactor
from .sign import Signer

if TYPE_CHECKING:
    from ..runtime import Gateway

__all__ = ["AuditTrail", "gateway_secrets"]

log = structlog.get_logger("gateway.audit")
_AUDIT_TAIL = stdout.event_tail("audit")


class AuditTrail:
    def __init__(self, settings: AuditSettings, redactor: Redactor = REDACTOR) -> None:
        self.settings = settings
        self._redactor = redactor
        self.writer: ChainWriter | None = None
        if settings.file is not None:
            self.writer = ChainWriter(
                Path(settings.file),
                durability=settings.durability,
                fsync_interval=settings.fsync_interval,
                signer=_signer(settings),
                checkpoint_interval=settings.checkpoint_interval,
            )
        self._detach: Callable[[], None] | None = None

    @property
    def healthy(self) -> bool:
        return self.writer is None or self.writer.healthy

    def attach(self, gateway: Gateway) -> None:
        """Observe the gateway's calls, redact its secrets, and start writing."""
        gateway.observers.append(self.observe)
        self._detach = self._redactor.add_source(gateway_secrets(gateway))
        if self.writer is not None:
            self.writer.start()

    async def close(self) -> None:
        """Flush every queued record (the app's cleanup, after the last call was answered)."""
        lines = stdout.current()
        if lines is not None:
            lines.flush()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self._detach is not None:
            self._detach()

    def check(self) -> None:
        """Before a call is served: refuse it if it could not be audited and policy says so."""
        if self.settings.on_error == "fail_closed" and not self.healthy:
            raise AuditUnavailable()

    def observe(self, call: Call) -> None:
        key = [call.presented_key.reveal()] if call.presented_key is not None else []
        # Bounded first: redaction, the stdout line and the file then see a small, flat record.
        record = bound_record(build_record(call))
        record = self._redactor.redact_fields(record, FOREIGN_FIELDS, extra=key)
        # Encoded once, after redaction, for both lines; what orjson cannot encode natively or
        # what is too long for the file takes the general paths, exactly as before.
        body = event_body(record, "audit")
        lines = None if body is None else stdout.current()
        if body is not None and lines is not None:
            lines.queue(stdout.event_line(body, _AUDIT_TAIL))  # the chain's line, rendered once
        else:
            log.info("audit", **record, **{ALREADY_REDACTED: True})
        if self.writer is not None:
            if body is not None:
                self.writer.submit_encoded(with_event(body, "audit"))
            else:
                self.writer.submit({"event": "audit", **record})


def _signer(settings: AuditSettings) -> Signer | None:
    if settings.signing_key is None:
        return None
    return Signer(settings.signing_key.reveal(), writer=os.urandom(6).hex())


def gateway_secrets(gateway: Gateway) -> Callable[[], list[str]]:
    """Every secret value the gateway holds right now: session tokens, upstream passwords, and
    the store's Redis password and encryption keys (current and previous)."""

    def values() -> list[str]:
        settings = gateway.runtime.settings
        found = [u.password.reveal() for u in settings.upstreams.values()]
        store = settings.store
        held = (store.password, store.encryption_key, *store.previous_encryption_keys)
        found.extend(secret.reveal() for secret in held if secret is not None)
        for custody in gateway.custodies.values():
            found.extend(t.reveal() for t in custody.known_tokens())
        return found

    return values
