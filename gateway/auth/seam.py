"""Who is calling: one interface, several authenticators, one answer for every failure.

Each authenticator reads what the request presented (`Presented`) and answers with an identity,
with nothing (it does not apply), or with a failure (it applies and is wrong). The order is
fixed: client certificate, header key, body key, caller session token. Every credential a
request presents must be valid and all must name the same caller; a body's `credentials.user`
must name that caller too. Anything else is the one `Unauthenticated`, so a prober learns
nothing about which part was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import Unauthenticated
from ..settings import CallerSettings
from .keys import Identity, Keyring
from .presented import Presented
from .tokens import CallerSessions, token_id

__all__ = ["Authentication"]


class _Failed(Exception):
    """An authenticator that applies and does not accept what it was given."""


class Authentication:
    def __init__(self, callers: Mapping[str, CallerSettings], sessions: CallerSessions) -> None:
        self.keyring = Keyring(callers)
        self.sessions = sessions
        self._callers = callers
        self._by_cert = {name: c for c in callers.values() for name in c.tls_identities}

    def early(self, presented: Presented) -> bool:
        """Refuse a bad header key before the body is read (nothing is buffered for it); True
        when the caller is known already (a good header key, a certificate naming a caller), so
        its body is not one of the unidentified callers' (`bodybudget`)."""
        if presented.header_scheme_bad or (
            presented.header_key is not None and self.keyring.find(presented.header_key) is None
        ):
            raise Unauthenticated()
        return presented.header_key is not None or any(
            name in self._by_cert for name in presented.cert_names
        )

    async def identify(self, presented: Presented) -> Identity:
        try:
            found = [
                self._cert(presented),
                self._header_key(presented),
                self._body_key(presented),
                await self._session_token(presented),
            ]
        except _Failed:
            raise Unauthenticated() from None
        identities = [i for i in found if i is not None]
        if not identities or len({i.caller.name for i in identities}) != 1:
            raise Unauthenticated()
        if presented.user is not None and presented.user != identities[0].caller.name:
            raise Unauthenticated()
        return identities[-1] if identities[0].via == "client_cert" else identities[0]

    def _cert(self, presented: Presented) -> Identity | None:
        # A certificate that names no caller identifies no one; it is not a failure.
        named = (self._by_cert[n] for n in presented.cert_names if n in self._by_cert)
        callers = {c.name: c for c in named}
        if len(callers) > 1:
            raise _Failed()
        caller = next(iter(callers.values()), None)
        return None if caller is None else Identity(caller, None, "client_cert")

    def _header_key(self, presented: Presented) -> Identity | None:
        if presented.header_scheme_bad:
            raise _Failed()
        if presented.header_key is None:
            return None
        found = self.keyring.find(presented.header_key)
        if found is None:
            raise _Failed()
        return Identity(found[0], found[1], "header_key")

    def _body_key(self, presented: Presented) -> Identity | None:
        if presented.password is None:
            return None
        found = self.keyring.find(presented.password)
        if found is None or presented.user is None:
            raise _Failed()
        return Identity(found[0], found[1], "body_key")

    async def _session_token(self, presented: Presented) -> Identity | None:
        if presented.token is None or presented.password is not None:
            return None  # with both, OMA reads the password (and so do we)
        grant = await self.sessions.find(presented.token)
        if grant is None or presented.user is None:
            raise _Failed()
        found = self.keyring.find_digest(grant.key_digest)  # the token dies with its key
        if found is None or found[0].name != grant.caller or found[0].session_tokens is None:
            raise _Failed()
        return Identity(found[0], found[1], "session_token", token_id(presented.token))
