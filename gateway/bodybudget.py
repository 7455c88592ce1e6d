"""What callers not yet identified can make the gateway hold while their bodies arrive.

A call with a header key (or a client certificate naming a caller) is identified before its body
is read, and a bad header key is refused unread (`Authentication.early`). A call with neither must
be read: OMA client libraries send their key inside the body (`credentials`). Without a bound,
each such connection could hold up to `max_body` for `client_timeout`, renewed at will: about
170 stalled 1 MiB bodies fill a 256 MiB pod. So the bytes of all bodies still arriving for
unidentified callers share one budget per process, `max_unidentified_bodies`: a chunk that would
take the total past it refuses its call at once (429 `rate_limited`, `Connection: close`). The
attacker's bodies then cost at most the budget; callers with a header key are never counted.

Bytes are counted as they arrive, not as declared: a `Content-Length` costs the sender nothing,
the bytes do. A body's share is given back whole when its read ends, however it ends (read,
refused, cut by `client_timeout`, the caller gone).
"""

from __future__ import annotations

import structlog

from .errors import BodyBudgetFull

__all__ = ["BodyBudget", "Share"]

log = structlog.get_logger(__name__)


class BodyBudget:
    """The bytes held now by unidentified callers' bodies in this process, and the refusals."""

    def __init__(self) -> None:
        self.held = 0
        self.refused = 0  # calls refused, for metrics

    def share(self, limit: int) -> Share:
        """A share for one body, under `limit` (the running `max_unidentified_bodies`)."""
        return Share(self, limit)


class Share:
    """One body's part of the budget: taken chunk by chunk, given back whole when the read ends."""

    __slots__ = ("_budget", "_limit", "taken")

    def __init__(self, budget: BodyBudget, limit: int) -> None:
        self._budget, self._limit = budget, limit
        self.taken = 0

    def take(self, size: int) -> None:
        budget = self._budget
        if budget.held + size > self._limit:
            budget.refused += 1
            log.warning("unidentified_bodies_full", held=budget.held, limit=self._limit,
                        _budget=True)  # fmt: skip
            raise BodyBudgetFull(headers=_headers(self._limit))
        budget.held += size
        self.taken += size

    def release(self) -> None:
        self._budget.held -= self.taken
        self.taken = 0


def _headers(limit: int) -> dict[str, str]:
    return {
        "Retry-After": "1",
        "RateLimit-Policy": f'"unidentified_bodies";q={limit}',
        "RateLimit": '"unidentified_bodies";r=0;t=1',
    }
