"""The sandbox's state object: directory, tokens, download links, clock, fault switches and the
request log."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from gateway.sandbox.clock import Clock
from gateway.sandbox.directory import Directory
from gateway.sandbox.errors import BAD_CREDENTIALS, MALFORMED, OmaError
from gateway.sandbox.faults import Faults
from gateway.sandbox.files import DownloadStore
from gateway.sandbox.roles import RoleKind
from gateway.sandbox.seed import admin_role, seed_directory
from gateway.sandbox.tokens import TokenStore

AuthKind = Literal["password", "token"]
# The benchmark drives millions of calls through one sandbox: keep the log bounded by dropping
# its older half when it grows past this.
MAX_RECORDED = 100_000
# A recorded body is kept only up to this size, so the log stays small whatever callers send
# (the bundled sandbox lives in the gateway's process): a larger one is recorded as its size.
MAX_RECORDED_BODY = 16 * 1024
_SECONDS_PER_MONTH = 2_629_746


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the sandbox saw of one call, so tests can check what the gateway injected and that
    the rest of the body arrived as the caller sent it."""

    method: str
    client: str | None
    user: str | None
    auth: AuthKind | None
    token: str | None
    body: dict[str, Any]  # everything but `credentials`
    traceparent: str | None = None  # the W3C trace context headers the call came with
    tracestate: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "client": self.client,
            "user": self.user,
            "auth": self.auth,
            "token": self.token,
            "body": self.body,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
        }


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    token: str | None  # the token the call authenticated with; None for a password login


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Sandbox:
    def __init__(
        self,
        user: str = "admin@demo.adm",
        password: str = "demo-password",  # noqa: S107 - the documented demo default
        clock: Clock | None = None,
        role: RoleKind = "company",
    ) -> None:
        self.user = user.lower()
        self.password = password
        self.role: RoleKind = role  # the configured login's role; other seeded logins keep theirs
        self.clock: Clock = clock or time.time
        # Download links point here; None means the origin each call came in on.
        self.download_base: str | None = None
        self.faults = Faults()
        self.reset()

    def reset(self) -> None:
        """Back to the seeded state: data, tokens, links, request log and faults (not the role)."""
        self.directory: Directory = seed_directory(self.user, self.password, self.role)
        self.tokens = TokenStore(self.clock)
        self.downloads = DownloadStore(self.clock)
        self.downloads_served = 0
        self.requests: list[RecordedRequest] = []
        self._authenticate_count = 0
        self.faults.clear()

    @property
    def authenticate_count(self) -> int:
        """`authenticate` calls received since creation or reset (survives log trimming)."""
        return self._authenticate_count

    def set_role(self, role: RoleKind) -> None:
        """Give the configured login another role from now on (and after every reset)."""
        self.role = role
        self.directory.roles[self.user] = admin_role(role)

    def revoke_tokens(self) -> None:
        """Forget every issued token, as if they had all gone stale upstream."""
        self.tokens.revoke_all()

    def audit_id(self) -> str:
        # Imitates the shape of OMA's audit ids ("month72_56b3b161b"); their meaning is unknown.
        month = int(self.clock()) // _SECONDS_PER_MONTH % 1000
        return f"month{month}_{secrets.token_hex(5)[:9]}"

    def record(
        self,
        method: str,
        body: dict[str, Any],
        size: int = 0,
        trace: tuple[str | None, str | None] = (None, None),
    ) -> None:
        credentials = body.get("credentials")
        creds = credentials if isinstance(credentials, dict) else {}
        token = _text(creds.get("token"))
        auth: AuthKind | None = (
            "password" if creds.get("password") is not None else "token" if token else None
        )
        # A shallow copy is enough: the handlers read bodies and never change them.
        rest = {key: value for key, value in body.items() if key != "credentials"}
        if size > MAX_RECORDED_BODY:
            rest = {"_omitted_bytes": size}
        entry = RecordedRequest(
            method,
            _text(creds.get("client")),
            _text(creds.get("user")),
            auth,
            token,
            rest,
            traceparent=trace[0],
            tracestate=trace[1],
        )
        if len(self.requests) >= MAX_RECORDED:
            del self.requests[: MAX_RECORDED // 2]
        self.requests.append(entry)
        if method == "authenticate":
            self._authenticate_count += 1

    def login(self, method: str, body: dict[str, Any]) -> Caller:
        """Check the body's credentials object the same way for every method."""
        credentials = body.get("credentials")
        # No credentials at all is treated like wrong ones (error 1); a credentials value of the
        # wrong shape is a malformed request (error 5). Real OMA's choice here is unverified.
        if credentials is None:
            raise OmaError(BAD_CREDENTIALS)
        if not isinstance(credentials, dict):
            raise OmaError(MALFORMED, "credentials must be an object")
        for key in ("user", "password", "token", "client"):
            if credentials.get(key) is not None and not isinstance(credentials[key], str):
                raise OmaError(MALFORMED, f"credentials.{key} must be a string")
        user = (credentials.get("user") or "").lower()
        # With both present the password is what counts (a guess; clients send one or other).
        if credentials.get("password") is not None:
            return self._password_login(method, user, credentials["password"])
        if credentials.get("token") and self._token_login(user, credentials["token"]):
            return Caller(user, credentials["token"])
        raise OmaError(BAD_CREDENTIALS)

    def _password_login(self, method: str, user: str, password: str) -> Caller:
        if self.faults.fires("reject_logins", method):
            raise OmaError(BAD_CREDENTIALS)
        account = self.directory.accounts.get(user)
        # An empty stored password means "none set": it must never match an empty attempt.
        if (
            account is None
            or not account.password
            or not hmac.compare_digest(account.password.encode(), password.encode())
        ):
            raise OmaError(BAD_CREDENTIALS)
        return Caller(user, None)

    def _token_login(self, user: str, token: str) -> bool:
        return user in self.directory.accounts and self.tokens.login(user, token)
