"""A throwaway CA and a server certificate for 127.0.0.1/localhost, made in the test (the
certificate factory of tests/auth/certs.py, in the shape the platform tests use)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from ..auth.certs import CertAuthority, dns


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(directory: Path) -> Pki:
    ca = CertAuthority(directory)
    server = ca.issue(
        "server", "localhost", [dns("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    return Pki(ca.cert_file, server.cert, server.key)
