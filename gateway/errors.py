"""The answers the gateway makes itself, as a small tree of exceptions.

    GatewayError                      (any refusal or failure the gateway answers itself)
    ├── Unauthenticated        401   no key, unknown key, revoked or expired key: one answer
    ├── MethodNotAllowed       403   outside the caller's allowlist, or never forwarded
    ├── TargetNotAllowed       403   an object outside the caller's scope, or a protected login
    ├── ParameterNotAllowed    403   a parameter rule refuses the call (generate_token, attributes)
    ├── BadRequest             400   body not a JSON object, malformed method name
    ├── NoSuchEndpoint         404   a path no OMA library builds; an unknown or expired download
    ├── WrongHttpMethod        405   /api/{method} with another HTTP method
    ├── PayloadTooLarge        413   body over max_body
    ├── RateLimited            429   a limit is exhausted (carries Retry-After / RateLimit headers)
    │   └── BodyBudgetFull     429   bodies of callers not yet identified fill the process's budget
    ├── StoreUnavailable       503   the shared store is down and limiting fails closed
    ├── AuditUnavailable       503   the audit trail cannot be written and audit fails closed
    └── UpstreamError                the OMA side failed
        ├── UpstreamUnavailable 502  refused, reset, or not OMA's JSON
        ├── UpstreamAuthFailed  502  the gateway's own OMA login was rejected
        └── UpstreamTimeout     504  no answer within the upstream's timeout

Each carries its HTTP status, the stable `gateway_error` code of the contract, and the OMA
`error_number` that best matches it, so OMA client libraries see a familiar envelope. Messages are
fixed strings chosen here: nothing a caller sent, and no secret, ever reaches them. What a
policy refusal was about (rule, field, value) travels in `detail`, for the audit record only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "AuditUnavailable",
    "BadRequest",
    "BodyBudgetFull",
    "GatewayError",
    "MethodNotAllowed",
    "NoSuchEndpoint",
    "ParameterNotAllowed",
    "PayloadTooLarge",
    "RateLimited",
    "StoreUnavailable",
    "TargetNotAllowed",
    "Unauthenticated",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "WrongHttpMethod",
]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    error_number: ClassVar[int] = 0  # OMA: "server-side fault, not the client's doing"
    message: ClassVar[str] = "internal gateway error"
    #: The answer closes its connection (`Connection: close`) instead of keeping it alive.
    closes_connection: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        detail: Mapping[str, object] | None = None,
    ):
        self.text = message or self.message
        self.headers: Mapping[str, str] = headers or {}
        self.detail = detail
        super().__init__(self.text)

    def envelope(self) -> dict[str, object]:
        return {
            "success": False,
            "error_number": self.error_number,
            "error": self.text,
            "gateway_error": self.code,
        }


class Unauthenticated(GatewayError):
    status = 401
    code = "unauthenticated"
    error_number = 1  # OMA: invalid credentials
    message = "Invalid credentials supplied in request"


class MethodNotAllowed(GatewayError):
    status = 403
    code = "method_not_allowed"
    error_number = 4  # OMA: the requester lacks permission
    message = "method not allowed for this caller"


class TargetNotAllowed(GatewayError):
    status = 403
    code = "target_not_allowed"
    error_number = 4
    message = "target not allowed for this caller"


class ParameterNotAllowed(GatewayError):
    status = 403
    code = "parameter_not_allowed"
    error_number = 4
    message = "parameter not allowed for this caller"


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"
    error_number = 5  # OMA: malformed request
    message = "malformed request"


class NoSuchEndpoint(GatewayError):
    status = 404
    code = "not_found"
    error_number = 5
    message = "no such endpoint: callers POST /api/{method}"


class WrongHttpMethod(BadRequest):
    status = 405
    message = "no such endpoint: callers POST /api/{method}"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"
    error_number = 5
    message = "request body too large"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"
    message = "rate limit exceeded, retry later"


class BodyBudgetFull(RateLimited):
    """`max_unidentified_bodies`: the caller sent no header key, and the bodies still arriving
    for such callers hold the whole budget. The connection closes: what follows of the body is
    never kept."""

    message = (
        "too many request bodies of callers without a header key are arriving,"
        " retry later or send the key in Authorization or X-API-Key"
    )
    closes_connection = True


class StoreUnavailable(GatewayError):
    status = 503
    code = "store_unavailable"
    message = "shared store unavailable"


class AuditUnavailable(GatewayError):
    status = 503
    code = "audit_unavailable"
    message = "audit trail unavailable"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_unavailable"
    message = "OMA upstream unavailable"
    #: Why it failed, one word of `gateway.failures.CAUSES`: for logs and a metric label only.
    cause: str = "other"


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamAuthFailed(UpstreamError):
    code = "upstream_auth_failed"
    message = "the gateway's OMA login was rejected"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    message = "OMA upstream timed out"
    cause = "timeout"
