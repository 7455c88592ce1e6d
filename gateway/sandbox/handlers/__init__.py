"""The dispatch table from method name to handler; catalogued methods without an entry get
`generic`."""

from __future__ import annotations

from gateway.sandbox.handlers import auth, domains, misc, users
from gateway.sandbox.handlers.common import Call, Handler, Reply

HANDLERS: dict[str, Handler] = {
    "authenticate": auth.authenticate,
    "generate_token": auth.generate_token,
    "get_user": users.get_user,
    "change_user": users.change_user,
    "delete_user": users.delete_user,
    "rename_user": users.rename_user,
    "search_users": users.search_users,
    "get_domain": domains.get_domain,
    "change_domain": domains.change_domain,
    "search_domains": domains.search_domains,
    "echo": misc.echo,
    "stats_snapshot": misc.stats_snapshot,
    "migration_trace": misc.migration_trace,
    "restore_deleted_messages": misc.restore_deleted_messages,
    "restore_deleted_contacts": misc.restore_deleted_contacts,
    "move_user_messages": misc.move_user_messages,
}


def handler_for(method: str) -> Handler:
    return HANDLERS.get(method, misc.generic)


__all__ = ["HANDLERS", "Call", "Handler", "Reply", "handler_for"]
