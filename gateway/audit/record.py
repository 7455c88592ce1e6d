"""The canonical audit record of one call: who did what to which objects, when, and how it went.

Built from the finished `Call` (the observers run after the answer is made). The targets are
the policy's own extraction (`policy.targets`), so what the audit says a call touched is what
scope judged; never the whole body: the trail must answer "which mailbox" without becoming a
second copy of every attribute value. For `attributes` the record keeps the names that were set,
not their values. A call refused before its caller is known records no targets at all: an
unauthenticated body is not worth a line of the trail. Everything passes through redaction.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from ..call import Call
from ..catalog import is_mutating
from ..policy.targets import record_view
from .redact import REDACTED, is_secret_name

__all__ = ["FOREIGN_FIELDS", "build_record", "result"]

#: Record fields holding what a caller or OMA sent: the only ones a secret could reach. Every
#: other field is the gateway's own (config names, validated method, codes, numbers).
FOREIGN_FIELDS = (
    "request_id", "remote", "client", "claimed_caller", "targets", "refusal", "outcome",
)  # fmt: skip
_MAX_TEXT = 512  # a target is a name, not a document: longer strings are cut
_MAX_ITEMS = 1000  # ids beyond this are counted, not listed


def build_record(call: Call) -> dict[str, Any]:
    return {
        "time": _iso(call.started),
        "request_id": call.request_id,
        "trace_id": call.trace_id,
        "caller": call.caller,
        "key_id": call.key_id,
        "via": None if call.identity is None else call.identity.via,
        "token_id": None if call.identity is None else call.identity.token_id,
        "client": call.client,
        "claimed_caller": call.claimed if call.identity is None else None,
        "upstream": call.upstream,
        "remote": call.remote,
        "method": call.method,
        "mutating": is_mutating(call.method),
        "targets": targets(call),
        "status": call.status,
        "gateway_error": call.gateway_error,
        "refusal": None if call.refusal is None else _refusal(call.refusal),
        "result": result(call),
        "outcome": outcome(call.answer),
        "resent": call.resent,
        **_limits(call),
        "duration_ms": _ms(call.duration),
        "upstream_ms": _ms(call.upstream_latency),
    }


def result(call: Call) -> str:
    """One word for "did it work": success, partial (a bulk call with failed items), oma_error,
    refused (the gateway said no: 4xx) or failed (the gateway or upstream broke: 5xx). A
    download has no OMA answer: the file was streamed, whole (success) or cut at the gateway's
    size bound (partial)."""
    if call.method == "download" and call.answer is None and call.gateway_error is None:
        return "success" if call.download_whole else "partial"
    if call.gateway_error is not None or call.answer is None:
        return "refused" if (call.status or 500) < 500 else "failed"
    if call.answer.get("success") is not True:
        return "oma_error"
    items = call.answer.get("ids")
    if isinstance(items, list) and any(isinstance(i, dict) and not i.get("success") for i in items):
        return "partial"
    return "success"


def targets(call: Call) -> dict[str, Any]:
    if call.identity is None or not call.body:
        return {}
    found = {name: _bounded(value) for name, value in record_view(call.targets).items()}
    attributes = call.body.get("attributes")
    if isinstance(attributes, dict):
        found["attributes"] = sorted(str(k)[:_MAX_TEXT] for k in attributes)[:_MAX_ITEMS]
    return found


def _refusal(refusal: Mapping[str, Any]) -> dict[str, Any]:
    """The rule, field and value that refused the call; a value in a secret-named field (a
    caller-chosen `token`) is a credential and is never written."""
    field = refusal.get("field")
    name = str(field).rpartition(".")[2] if field else ""
    value = REDACTED if is_secret_name(name) else _bounded(refusal.get("value"))
    return {"rule": refusal.get("rule"), "field": field, "value": value}


def outcome(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    """OMA's verdict: top-level success/error_number, OMA's own audit id, per-object results."""
    if answer is None:
        return None
    result: dict[str, Any] = {
        "success": answer.get("success"),
        "error_number": answer.get("error_number"),
    }
    if isinstance(answer.get("audit"), str):
        result["oma_audit"] = answer["audit"][:_MAX_TEXT]
    items = answer.get("ids")
    if isinstance(items, list):
        result["items"] = [_item(i) for i in items[:_MAX_ITEMS]]
        result["items_failed"] = sum(
            1 for i in items if isinstance(i, dict) and not i.get("success")
        )
    return result


def _item(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"id": _bounded(item), "success": None, "error_number": None}
    return {
        "id": _bounded(item.get("id")),
        "success": item.get("success"),
        "error_number": item.get("error_number"),
    }


def _limits(call: Call) -> dict[str, Any]:
    decision = call.limits
    if decision is None:
        return {"ratelimit_remaining": None}
    out: dict[str, Any] = {
        "ratelimit_remaining": {s.rule.policy: s.remaining for s in decision.states},
    }
    if decision.shadow_denied:
        out["shadow_denied"] = [s.rule.policy for s in decision.shadow_denied]
    if decision.degraded:
        out["limiter_degraded"] = True
    return out


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, list):
        return [_bounded(v) for v in value[:_MAX_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:_MAX_TEXT]  # a nested object where a name belongs: keep it readable


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="microseconds")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
