"""Checks of a config beyond each field's syntax: method names against the OMA catalogue, and
warnings for settings that are legal but probably not what the operator meant.

The catalogue (gateway/data/methods.json) is what OMA offers, so a name outside it in `allow`,
`deny`, `method_limits` or `params` is a typo that would otherwise pass silently: `deny:
["search_admin"]` denies nothing while `search_*` lets `search_admins` through. An exact name OMA
lacks is a problem with a "did you mean"; a pattern that matches no catalogued method is a problem
too. `unknown_method_problems` takes (field path, name) pairs so any section can use it.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .catalog import catalogue
from .policy.lint import policy_warnings
from .settings import SANDBOX_URL, Settings

__all__ = ["config_warnings", "every_warning", "is_pattern", "unknown_method_problems"]


def is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def unknown_method_problems(named: Iterable[tuple[str, str]]) -> list[str]:
    """ "path: why" for each (path, method name or shell pattern) the catalogue does not know."""
    return [f"{path}: {why}" for path, name in named if (why := _unknown(name)) is not None]


def _unknown(name: str) -> str | None:
    if is_pattern(name):
        if any(fnmatch.fnmatchcase(method, name) for method in _names()):
            return None
        return f"the pattern {name!r} matches no method in the OMA catalogue"
    if name in catalogue():
        return None
    close = difflib.get_close_matches(name, _names(), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{name!r} is not a method in the OMA catalogue{hint}"


@functools.cache
def _names() -> tuple[str, ...]:
    return tuple(sorted(catalogue()))


def config_warnings(settings: Settings, now: datetime | None = None) -> list[str]:
    """Legal but probably unintended: an OMA URL without /api, a key already expired, a drain
    shorter than an upstream's timeout (SIGTERM would cut calls that are still within it), a
    budget for unidentified callers' bodies that one whole body cannot fit in, an account's
    rate budget that any one of its callers can spend whole."""
    now = now or datetime.now(UTC)
    found = []
    if settings.max_unidentified_bodies < settings.max_body:
        found.append(
            f"max_unidentified_bodies: {settings.max_unidentified_bodies} bytes is less than "
            f"max_body ({settings.max_body}): a call with its key in the body and a body between "
            "the two is always refused"
        )
    for name, upstream in settings.upstreams.items():
        path = urlsplit(upstream.url).path.rstrip("/")
        if upstream.url != SANDBOX_URL and not path.endswith("/api"):
            found.append(
                f"upstreams.{name}.url: does not end in /api, where OMA serves its methods"
            )
        if settings.drain_timeout < upstream.timeout:
            found.append(
                f"drain_timeout: {settings.drain_timeout:g}s is shorter than upstreams.{name}."
                f"timeout ({upstream.timeout:g}s): a drain may cut calls OMA is still answering"
            )
    found += _shared_budgets(settings)
    for name, caller in settings.callers.items():
        for i, key in enumerate(caller.keys):
            if key.expires is not None and key.expires <= now:
                found.append(
                    f"callers.{name}.keys[{i}]: key {key.key_id} expired at "
                    f"{key.expires.isoformat()}; it no longer works"
                )
    return found


def every_warning(settings: Settings) -> list[str]:
    """What check-config prints and serve logs: the settings' own warnings (made as the config
    is read), the policy's, and an audit file's without a signing key."""
    found = [*settings.warnings, *policy_warnings(settings)]
    if settings.audit.file is not None and settings.audit.signing_key is None:
        found.append(
            "audit.signing_key_file is not set: the audit file's hash chain is then "
            "tamper-evident only against accidents, not against anyone who can write it"
        )
    return found


def _shared_budgets(settings: Settings) -> list[str]:
    """An upstream's `rate_limit` is the OMA account's, first come first served: a caller with
    no `rate_limit` of its own can spend all of it and leave its neighbours `rate_limited`."""
    found = []
    for name, upstream in settings.upstreams.items():
        sharing = sorted(c.name for c in settings.callers.values() if c.upstream == name)
        unbounded = [c for c in sharing if settings.callers[c].rate_limit is None]
        if upstream.rate_limit is not None and len(sharing) > 1 and unbounded:
            found.append(
                f"upstreams.{name}.rate_limit: callers {', '.join(unbounded)} have no rate_limit "
                "of their own: any one of them can spend the whole account's budget and leave "
                "the others rate_limited (give each a rate_limit below the upstream's)"
            )
    return found
