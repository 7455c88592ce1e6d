"""TLS on the callers' port: the server context, re-read in place on reload.

One `SSLContext` per process serves every connection. A reload loads the new certificate and key
into that same context, so new handshakes get them while open connections keep theirs and none
is dropped. With `client_ca_file` the port asks for a client certificate and does not require
one (`CERT_OPTIONAL`): key-holding callers keep working beside certificate-holding ones.
"""

from __future__ import annotations

import ssl

from aiohttp import web

from .settings import TlsSettings

__all__ = ["TLS_CONTEXT", "reload_context", "server_context", "tls_problem"]

TLS_CONTEXT = web.AppKey("tls_context", ssl.SSLContext)


def server_context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    reload_context(context, tls)
    return context


def reload_context(context: ssl.SSLContext, tls: TlsSettings) -> None:
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=tls.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL


def tls_problem(tls: TlsSettings) -> str | None:
    """Why these files cannot serve TLS, or None (check-config and reload ask before use)."""
    try:
        server_context(tls)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"cannot load the certificate, key or CA: {exc}"
    return None
