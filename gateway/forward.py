"""Forwarding a call to its upstream: inject the gateway's session, resend once if it was stale.

The caller's `credentials` are replaced whole: the gateway, not the caller, picks the OMA user.
`client` names the gateway, the caller and the request id, since it is the only per-request label
OpenSRS's own logs will show. On `error_number 1` the token may have expired early (OMA documents
no separate code for it): the gateway drops exactly that token, gets the next, and resends once.
OMA checks credentials before acting, so resending a refused call cannot apply it twice.
When custody damps the report (a login for a stale token was made moments ago), nothing is
resent and OMA's answer stands. Each caller's calls in flight are bounded per upstream
(`inflight`), so one caller cannot take the whole connection pool.
"""

from __future__ import annotations

from typing import Any

import orjson

from .call import Call
from .custody import SessionCustody
from .store import StoredToken
from .upstream import OmaAnswer

__all__ = ["Forwarder"]

_STALE_TOKEN = 1  # OMA: invalid credentials


class Forwarder:
    def __init__(self, custody: SessionCustody) -> None:
        self.custody = custody
        self._settings = custody.client.settings

    async def forward(self, call: Call, body: dict[str, Any]) -> tuple[OmaAnswer, list[str]]:
        """OMA's answer, unscrubbed, and the secrets the exchange used (the session tokens sent,
        the upstream's password): the request path scrubs the answer against them (`scrub`)."""
        assert call.method is not None and call.caller is not None
        with self.custody.gate.enter(call.caller):
            answer, used = await self._forward(call, body)
        return answer, [t.token.reveal() for t in used] + [self._settings.password.reveal()]

    async def _forward(
        self, call: Call, body: dict[str, Any]
    ) -> tuple[OmaAnswer, list[StoredToken]]:
        token = await self.custody.current()
        answer = await self._send(call, body, token)
        used = [token]
        if answer.error_number == _STALE_TOKEN:
            fresh = await self.custody.invalidate(token)
            if fresh is not None:
                used.append(fresh)
                call.resent = True
                answer = await self._send(call, body, fresh)
        return answer, used

    async def _send(self, call: Call, body: dict[str, Any], token: StoredToken) -> OmaAnswer:
        credentials = {
            "user": self._settings.user,
            "token": token.token.reveal(),
            "client": f"{self._settings.client} caller={call.caller} request={call.request_id}"
            + (f" {call.client}" if call.client else ""),  # the caller's library, last
        }
        payload = orjson.dumps({**body, "credentials": credentials})
        answer = await self.custody.client.call(str(call.method), payload, call.trace_parent)
        call.upstream_latency += answer.latency
        call.gateway_error = answer.gateway_error  # audit and metrics say what the caller got
        return answer
