"""One password login to OMA (`authenticate`) and what its answer means.

Three outcomes, kept apart because they call for different actions:

* a session token: the login worked;
* `LoginRejected`: OMA itself answered, in its own JSON, that the credentials are invalid
  (error_number 1). Only this one means "fix the password", and only this one backs off, since
  repeating it risks locking the shared account;
* any `UpstreamError`: the login never reached OMA's verdict (refused, TLS, timeout) or the
  answer is not OMA's (a proxy's 404 page, a URL without `/api`, OMA's JSON without a token).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from .errors import UpstreamAuthFailed, UpstreamError
from .failures import failure
from .secrets import Secret
from .store import StoredToken
from .upstream import OmaAnswer, OmaClient

__all__ = ["REFRESH_AT", "LoginRejected", "password_login"]

REFRESH_AT = (0.75, 0.80)  # of the lifetime: when one replica fetches the next token
_INVALID_CREDENTIALS = 1  # OMA's error_number for a bad user name, password or token


class LoginRejected(UpstreamAuthFailed):
    """OMA refused the gateway's own user and password."""


async def password_login(client: OmaClient, clock: Callable[[], float]) -> StoredToken:
    settings = client.settings
    lifetime = int(settings.token_lifetime)
    payload = orjson.dumps({
        "credentials": {
            "user": settings.user,
            "password": settings.password.reveal(),
            "client": settings.client,
        },
        "generate_session_token": True,
        "session_token_duration": lifetime,
    })  # fmt: skip
    issued_at = clock()  # OMA counts the lifetime from when the request is submitted
    answer = await client.call("authenticate", payload)
    try:
        token = _session_token(answer)
    except LoginRejected:
        raise
    except UpstreamError as exc:  # an answer that is not OMA's: an upstream failure like others
        client.note_failure("authenticate", exc)
        raise
    granted = _duration(answer.body, lifetime)
    return StoredToken(
        token=Secret(token),
        issued_at=issued_at,
        expires_at=issued_at + granted,
        refresh_at=issued_at + granted * random.uniform(*REFRESH_AT),  # noqa: S311 (jitter)
    )


def _session_token(answer: OmaAnswer) -> str:
    body = answer.body
    token = body.get("session_token")
    if body.get("success") is True and isinstance(token, str) and token:
        return token
    if not answer.from_oma:  # OMA's 400/404 without JSON, or a page standing in for OMA
        raise failure("http_status", "the OMA login answer is not OMA's JSON")
    if body.get("success") is False and body.get("error_number") == _INVALID_CREDENTIALS:
        raise LoginRejected()
    raise failure("not_json", "the OMA login answer is not OMA's JSON")


def _duration(body: dict[str, Any], asked: int) -> float:
    granted = body.get("session_token_duration")
    if isinstance(granted, int | float) and not isinstance(granted, bool) and 0 < granted <= asked:
        return float(granted)
    return float(asked)
