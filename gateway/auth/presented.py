"""What a request offers as credentials, read once: header key, OMA-style body credentials, the
TLS client certificate's names, and the caller's own `client` label.

Everything here is the caller's text, valid or not: logs redact the key and token even when they
are wrong, and the audit may record the claimed user name (bounded, printable) on a 401.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDictProxy

from ..secrets import Secret

__all__ = [
    "Presented",
    "client_label",
    "from_body",
    "from_headers",
    "without_session_token",
]

_CLIENT = re.compile(r"[\x20-\x7e]{1,64}")  # printable ASCII, as the contract keeps it
_CLAIMED_MAX = 64


@dataclass(frozen=True, slots=True)
class Presented:
    header_key: Secret | None = None
    header_scheme_bad: bool = False  # an Authorization header that is not a usable Bearer key
    user: str | None = None  # credentials.user: the caller name OMA-style clients claim
    password: Secret | None = None  # credentials.password: the caller's key
    token: Secret | None = None  # credentials.token: a caller session token
    client: str | None = None  # credentials.client, when printable ASCII of at most 64 chars
    cert_names: tuple[str, ...] = ()  # SAN URI / SAN DNS, else CN, of a verified client cert

    @property
    def oma_style(self) -> bool:
        """OMA-style body credentials: `user` with `password` or `token` (refusal_status auto)."""
        return self.user is not None and (self.password is not None or self.token is not None)

    @property
    def claimed(self) -> str | None:
        """The claimed caller name, bounded and printable, for the audit record of a refusal."""
        if self.user is None:
            return None
        return "".join(c if c.isprintable() else "?" for c in self.user[:_CLAIMED_MAX])

    def secrets(self) -> list[Secret]:
        return [s for s in (self.header_key, self.password, self.token) if s is not None]


def from_headers(headers: CIMultiDictProxy[str], cert_names: tuple[str, ...] = ()) -> Presented:
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        usable = scheme.lower() == "bearer"
        return Presented(_secret(key) if usable else None, not usable, cert_names=cert_names)
    if "X-API-Key" in headers:
        return Presented(_secret(headers["X-API-Key"]), cert_names=cert_names)
    return Presented(cert_names=cert_names)


def from_body(headers_part: Presented, body: Mapping[str, Any]) -> Presented:
    credentials = body.get("credentials")
    if not isinstance(credentials, dict):
        return headers_part
    user, password, token = (credentials.get(k) for k in ("user", "password", "token"))
    return Presented(
        header_key=headers_part.header_key,
        header_scheme_bad=headers_part.header_scheme_bad,
        user=user if isinstance(user, str) else None,
        password=_secret(password) if isinstance(password, str) else None,
        token=_secret(token) if isinstance(token, str) else None,
        client=client_label(credentials.get("client")),
        cert_names=headers_part.cert_names,
    )


def client_label(value: object) -> str | None:
    return value if isinstance(value, str) and _CLIENT.fullmatch(value) else None


def _secret(text: str) -> Secret | None:
    text = text.strip()
    return Secret(text) if text else None


def without_session_token(body: dict[str, Any], presented: Presented) -> dict[str, Any]:
    """The body minus a top-level `token` equal to the caller's session token (the PHP toolkit
    copies it there): the caller's token is never forwarded."""
    token = presented.token
    if token is None or body.get("token") != token.reveal():
        return body
    return {k: v for k, v in body.items() if k != "token"}
