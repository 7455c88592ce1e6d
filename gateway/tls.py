"""TLS on the callers' port: the server context, renewed on reload for new handshakes.

The port listens with one `SSLContext` whose SNI callback (run for every handshake, with or
without a server name) hands the connection the newest context. A reload builds that newest one
from the files afresh, so new handshakes get the new certificate and key, and trust exactly the
CAs `client_ca_file` holds now: loading a CA file into a running context only ever adds to what
it trusts, so a CA taken out of the file would stay trusted until a restart. Open connections
keep the context they shook hands with; none is dropped.

With `client_ca_file` the port asks for a client certificate and does not require one
(`CERT_OPTIONAL`): key-holding callers keep working beside certificate-holding ones. Whether it
asks at all is the listening context's and fixed at start (OpenSSL keeps a connection's verify
mode when its context is switched): turning client certificates on or off needs a restart, and
until then a port that asks but whose `client_ca_file` is gone refuses every certificate.
"""

from __future__ import annotations

import ssl

from aiohttp import web

from .settings import TlsSettings

__all__ = ["SERVER_TLS", "ServerTls", "tls_problem"]


class ServerTls:
    """The listening context and the context new handshakes get."""

    def __init__(self, tls: TlsSettings) -> None:
        self.listening = self.current = _context(tls)  # until a reload makes a newer one
        self.listening.sni_callback = self._newest

    def reload(self, tls: TlsSettings) -> None:
        """Files read again into a new context (raises as `tls_problem` reports, before use)."""
        self.current = _context(tls)

    def _newest(
        self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        connection.context = self.current


SERVER_TLS = web.AppKey("server_tls", ServerTls)


def _context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=tls.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def tls_problem(tls: TlsSettings) -> str | None:
    """Why these files cannot serve TLS, or None (check-config and reload ask before use)."""
    try:
        _context(tls)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"cannot load the certificate, key or CA: {exc}"
    return None
