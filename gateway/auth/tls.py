"""The names a verified TLS client certificate carries, for `tls_identities`.

SAN URIs (SPIFFE IDs) and SAN DNS names count; the subject CN only when the certificate has
neither, as the contract says. Without TLS, or without a verified certificate, there are none.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["cert_names", "peer_names"]


def peer_names(request: web.Request) -> tuple[str, ...]:
    transport = request.transport
    if transport is None or transport.get_extra_info("sslcontext") is None:
        return ()
    return cert_names(transport.get_extra_info("peercert"))


def cert_names(cert: Any) -> tuple[str, ...]:
    """Names from `ssl.SSLSocket.getpeercert()`'s dict (empty when nothing was verified)."""
    if not cert:
        return ()
    sans = tuple(v for k, v in cert.get("subjectAltName", ()) if k in ("URI", "DNS"))
    if sans:
        return sans
    return tuple(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName")
