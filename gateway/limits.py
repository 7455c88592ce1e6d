"""Which rate limits apply to a call, and how a decision is told to the caller.

Three kinds of limit can apply at once: the caller's own, the caller's for this method, and the
upstream account's (a budget that protects the OMA account every caller shares). They are checked
and consumed together by the store's `Limiter`, so a refused call spends none of them.
Headers follow draft-ietf-httpapi-ratelimit-headers in its structured-field form:
`RateLimit-Policy: "caller";q=20;w=2` and `RateLimit: "caller";r=19;t=1`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .errors import RateLimited
from .settings import CallerSettings, RateSpec, UpstreamSettings
from .store import Decision, Limiter, LimitRule

__all__ = ["CallerLimits", "ratelimit_headers"]


class CallerLimits:
    """The rules for one caller, built once per config so the request path only looks them up."""

    def __init__(self, caller: CallerSettings, upstream: UpstreamSettings) -> None:
        # Every key of a call shares the hash tag of its upstream, so one Lua script can check
        # them all on one Redis Cluster slot (a caller belongs to exactly one upstream).
        tag = f"{{{upstream.name}}}"
        base = []
        if caller.rate_limit is not None:
            base.append(LimitRule("caller", f"{tag}:caller:{caller.name}", caller.rate_limit))
        if upstream.rate_limit is not None:
            base.append(LimitRule("upstream", f"{tag}:upstream", upstream.rate_limit))
        self._base = tuple(base)
        self._by_method: Mapping[str, tuple[LimitRule, ...]] = {
            method: (LimitRule("method", f"{tag}:method:{caller.name}:{method}", spec), *self._base)
            for method, spec in caller.method_limits.items()
        }

    def rules(self, method: str) -> tuple[LimitRule, ...]:
        return self._by_method.get(method, self._base)

    async def admit(self, limiter: Limiter, method: str) -> Decision | None:
        """The decision (None when no limit applies); raises `RateLimited` when refused."""
        rules = self.rules(method)
        if not rules:
            return None
        decision = await limiter.check(rules)
        if not decision.allowed:
            headers = ratelimit_headers(decision)
            headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
            raise RateLimited(headers=headers)
        return decision


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    states = decision.states
    if not states:
        return {}
    policies, limits = [], []
    for state in states:
        policy, limit = _items(state.rule)
        policies.append(policy)
        limits.append(f"{limit}{state.remaining};t={math.ceil(state.reset_after)}")
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(limits)}


#: Per rule object: its `RateLimit-Policy` item and the start of its `RateLimit` item, which
#: never change (a rule is built once per config and reaches the decision as the same object).
#: Keyed by id, checked by identity, so a reused id is never mistaken for an older rule; the
#: entries hold their rules, and the dict is emptied should reloads ever pile up _MAX_ITEMS.
_ITEMS: dict[int, tuple[LimitRule, str, str]] = {}
_MAX_ITEMS = 4096


def _items(rule: LimitRule) -> tuple[str, str]:
    entry = _ITEMS.get(id(rule))
    if entry is None or entry[0] is not rule:
        if len(_ITEMS) >= _MAX_ITEMS:
            _ITEMS.clear()
        policy = f'"{rule.policy}";q={rule.spec.burst};w={_window(rule.spec)}'
        entry = _ITEMS[id(rule)] = (rule, policy, f'"{rule.policy}";r=')
    return entry[1], entry[2]


def _window(spec: RateSpec) -> int:
    """Seconds for an empty limit to fill up again: the window in which `burst` calls fit."""
    return max(1, math.ceil(spec.burst / spec.rate))
