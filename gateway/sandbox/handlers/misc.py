"""echo, stats_snapshot, the bulk message/contact methods, and the generic fallback."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from gateway.sandbox.catalogue import load_catalogue
from gateway.sandbox.directory import Account
from gateway.sandbox.errors import (
    BAD_ATTRIBUTE,
    ERROR_TEXTS,
    MALFORMED,
    NO_SUCH_OBJECT,
    PERMISSION_DENIED,
    OmaError,
)
from gateway.sandbox.handlers.common import Call, Reply, field, name_field


def echo(call: Call) -> Reply:
    # The docs say echo returns the posted JSON. Whether real OMA echoes the credentials object
    # too is unverified (upstream-facts §12.4); the sandbox does, because that is the hazard
    # the gateway must scrub. The envelope's `success: true` is added only where the posted
    # body has no `success` of its own.
    return dict(call.body)


def stats_snapshot(call: Call) -> Reply:
    kind = field(call.body, "type", str, "")
    target = name_field(call.body, "object")
    date = field(call.body, "date", str, "")
    if kind not in ("company", "domain"):
        raise OmaError(BAD_ATTRIBUTE, "type must be company or domain")
    _require_stats_access(call, kind, target)
    # The real URL carries the requester's login and a bearer token (§9.2): the sandbox puts
    # the requester's own session token there, or a fresh one after a password login.
    token = call.token or call.sandbox.tokens.issue(call.user, 900, for_oma=False).value
    query = urlencode(
        {"type": kind, "object": target, "date": date, "user": call.user, "token": token}
    )
    host = f"https://admin.{call.sandbox.cluster}.hostedemail.com"
    return {"snapshot": f"{host}/api/oma_file/get?{query}"}


def _require_stats_access(call: Call, kind: str, target: str) -> None:
    directory = call.sandbox.directory
    if kind == "domain":
        directory.require_admin(call.user, target)
    elif not directory.is_company_admin(call.user) or (
        target != (directory.company_of(call.user) or "").lower()
    ):
        raise OmaError(PERMISSION_DENIED, "not an admin of that company")


def restore_deleted_messages(call: Call) -> Reply:
    account = _mailbox(call)
    results = [_take(account.deleted_messages, account.messages, id_) for id_ in _ids(call)]
    return {"ids": results, "audit": call.sandbox.audit_id()}


def restore_deleted_contacts(call: Call) -> Reply:
    account = _mailbox(call)
    results = [_take(account.deleted_contacts, set(), id_) for id_ in _ids(call)]
    return {"ids": results, "audit": call.sandbox.audit_id()}


def move_user_messages(call: Call) -> Reply:
    account = _mailbox(call)
    field(call.body, "folder", str, "INBOX")
    # Moving keeps a message in the mailbox, so the id stays valid for later moves.
    results = [_take(account.messages, account.messages, id_) for id_ in _ids(call)]
    moved = sum(1 for result in results if result["success"])
    return {"ids": results, "count": moved, "audit": call.sandbox.audit_id()}


def generic(call: Call) -> Reply:
    """Every other catalogued method: credentials and required fields were checked, nothing
    else is simulated (a deliberate simplification); writes still get an audit id."""
    if load_catalogue()[call.method].mutating:
        return {"audit": call.sandbox.audit_id()}
    return {}


def _mailbox(call: Call) -> Account:
    account = call.sandbox.directory.account(name_field(call.body, "user"))
    call.sandbox.directory.require_reach(call.user, account.name)
    return account


def _ids(call: Call) -> list[Any]:
    ids = call.body.get("ids")
    if not isinstance(ids, list):
        raise OmaError(MALFORMED, "ids must be a list")
    return ids


def _take(source: set[str], target: set[str], id_: Any) -> Reply:
    """One bulk item: its own success and error fields, whatever the other items do (§3)."""
    if not isinstance(id_, str | int) or isinstance(id_, bool):
        return _failed(id_, MALFORMED)
    key = str(id_)
    if key not in source:
        return _failed(id_, NO_SUCH_OBJECT)
    source.discard(key)
    target.add(key)
    return {"id": id_, "success": True}


def _failed(id_: Any, number: int) -> Reply:
    return {"id": id_, "success": False, "error_number": number, "error": ERROR_TEXTS[number]}
