"""echo, stats_snapshot and migration_trace (their download links: files.py), the bulk
message/contact methods, and the generic fallback."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from gateway.sandbox.access import require_mailbox_write, require_named_objects
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
from gateway.sandbox.files import download_url
from gateway.sandbox.handlers.common import Call, Reply, field, name_field
from gateway.sandbox.roles import DOMAIN_READERS


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
    rows = _stats_rows(call, kind, target)
    content = "domain,users,date\n" + "".join(f"{name},{n},{date}\n" for name, n in rows)
    query = {"type": kind, "object": target, "date": date}
    filename = f"snapshot-{target}-{date}.csv"
    return {"snapshot": _link(call, filename, content, "text/csv", query)}


def migration_trace(call: Call) -> Reply:
    """The trace of one mailbox's migration. The sandbox keeps no migration jobs, so any job id
    gets a trace of a job that ran (a simplification); the mailbox and its reach are checked."""
    job = field(call.body, "job", str, "")
    account = call.sandbox.directory.account(name_field(call.body, "user"))
    call.sandbox.directory.require_reach(call.user, account.name)
    content = f"job {job}: migrated {account.name}\nfolders 3, messages 5, errors 0\n"
    query = {"type": "trace", "job": job, "object": account.name}
    filename = f"trace-{job}-{account.name}.txt"
    return {"trace": _link(call, filename, content, "text/plain", query)}


def _link(call: Call, filename: str, content: str, kind: str, query: dict[str, str]) -> str:
    # The name goes into a Content-Disposition header: only safe characters survive.
    safe = re.sub(r"[^A-Za-z0-9@._-]", "_", filename)[:128]
    download = call.sandbox.downloads.issue(call.user, safe, content.encode(), kind)
    return download_url(call.sandbox.download_base or call.base, download, query)


def _stats_rows(call: Call, kind: str, target: str) -> list[tuple[str, int]]:
    directory = call.sandbox.directory
    names = (
        [target]
        if kind == "domain"
        else sorted(d.name for d in directory.domains.values() if d.company.lower() == target)
    )
    users = Counter(account.domain for account in directory.accounts.values())
    return [(name, users[name]) for name in names]


def _require_stats_access(call: Call, kind: str, target: str) -> None:
    directory = call.sandbox.directory
    if kind == "domain":
        directory.require_admin(call.user, target)
        return
    role = directory.roles.get(call.user)
    # Company-wide figures: the company kinds that see every domain (DOMAIN_READERS).
    if (
        role is None
        or role.kind not in DOMAIN_READERS
        or role.kind == "domain"
        or target != role.scope.lower()
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
    else is simulated (a deliberate simplification) beyond the reach of the objects the body
    names; writes still get an audit id."""
    require_named_objects(call.sandbox.directory, call.user, call.body)
    if load_catalogue()[call.method].mutating:
        return {"audit": call.sandbox.audit_id()}
    return {}


def _mailbox(call: Call) -> Account:
    account = call.sandbox.directory.account(name_field(call.body, "user"))
    require_mailbox_write(call.sandbox.directory, call.user, account)
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
