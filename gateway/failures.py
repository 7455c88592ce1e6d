"""Why an upstream call failed, as one word of a fixed set: for log lines and a metric label.

Operators need to tell an unknown CA from a refused port from a proxy's HTML page, and the words
must stay few (they become label values), so every failure maps onto `CAUSES`:

    tls          the TLS handshake or certificate verification failed
    dns          the upstream's host name did not resolve
    refused      nothing listens there (connection refused)
    reset        the connection was reset or closed before a whole answer came
    timeout      no whole answer within the upstream's `timeout`
    http_status  an HTTP status other than 200 without OMA's JSON (a login's 400/404 included:
                 a URL without /api, a proxy's page; never a rejected password)
    not_json     HTTP 200, but not OMA's JSON
    too_large    the answer grew past `max_answer`
    redirect     a 3xx: the gateway never follows one
    other        anything else
"""

from __future__ import annotations

import socket
import ssl

import aiohttp

from .errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

__all__ = ["CAUSES", "cause_of", "failure"]

CAUSES = (
    "tls",
    "dns",
    "refused",
    "reset",
    "timeout",
    "http_status",
    "not_json",
    "too_large",
    "redirect",
    "other",
)


def failure(cause: str, message: str | None = None) -> UpstreamError:
    """The gateway error for `cause`: a timeout is 504, every other cause 502."""
    error: UpstreamError = UpstreamTimeout() if cause == "timeout" else UpstreamUnavailable(message)
    error.cause = cause if cause in CAUSES else "other"
    return error


def cause_of(exc: BaseException) -> str:
    """The cause word for an exception raised while talking to the upstream."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    # Certificate errors subclass both ClientSSLError and ClientConnectorError: check TLS first.
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return "dns"
    underlying = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(underlying, ConnectionRefusedError):
        return "refused"
    if isinstance(underlying, ssl.SSLError):
        return "tls"
    return "reset" if _is_reset(underlying) else "other"


def _is_reset(exc: BaseException) -> bool:
    return isinstance(
        exc,
        ConnectionResetError
        | BrokenPipeError
        | aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError,
    )
