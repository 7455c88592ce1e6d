"""TLS on the callers' port, through a real `oma-gateway serve` process with certificates made in
the test: HTTPS only, a Ruby-style client that skips verification, callers identified by client
certificate alone, certificates re-read on SIGHUP without dropping an open connection, a CA
taken out of `client_ca_file` trusted no more after SIGHUP, and every worker serving TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from ..ops.procs import (
    Ports,
    Proc,
    config,
    gateway_process,
    samples,
    sandbox_process,
    write_config,
)
from ..support import KEYS, wait_for_port
from .certs import CertAuthority, Issued, dns, uri

SPIFFE = "spiffe://cluster.local/ns/billing/sa/billing"
ALICE = {"user": "alice@demo.example"}


@pytest.fixture
def ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority(tmp_path)


@contextlib.contextmanager
def tls_gateway(
    tmp_path: Path, ca: CertAuthority, *flags: str
) -> Iterator[tuple[Ports, Proc, Path]]:
    server = ca.server()
    ports = Ports()
    with sandbox_process() as oma_url:
        document = config(oma_url, ports, {"billing": ["billing"], "support": ["support"]})
        document["tls"] = {"cert_file": str(server.cert), "key_file": str(server.key),
                           "client_ca_file": str(ca.cert_file)}  # fmt: skip
        document["callers"]["billing"]["tls_identities"] = [SPIFFE]
        document["callers"]["support"]["tls_identities"] = ["support.internal"]
        path = write_config(tmp_path / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path), *flags) as proc:
            wait_for_port(ports.listen, timeout=20)
            proc.wait_for("gateway_listening" if not flags else "worker_started", 1, 20)
            yield ports, proc, path


def client_context(ca: CertAuthority, cert: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


async def call(
    ports: Ports, ssl_arg: ssl.SSLContext | bool, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{ports.listen}/api/get_user",
            json=ALICE,
            headers=headers,
            ssl=ssl_arg,
        ) as response,
    ):
        return response.status, await response.json()


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def served_serial(port: int, ca: CertAuthority) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number


async def test_the_callers_port_speaks_https_only(tmp_path: Path, ca: CertAuthority) -> None:
    with tls_gateway(tmp_path, ca) as (ports, _, _):
        assert (await call(ports, client_context(ca), bearer("billing")))[0] == 200
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as session:
                await session.post(f"http://127.0.0.1:{ports.listen}/api/get_user", json=ALICE)


async def test_a_ruby_style_client_that_skips_verification_connects(
    tmp_path: Path, ca: CertAuthority
) -> None:
    with tls_gateway(tmp_path, ca) as (ports, _, _):
        body = {**ALICE, "credentials": {"user": "billing", "password": KEYS["billing"],
                                         "client": "Ruby OpenSRS::OMA 0.0.2"}}  # fmt: skip
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"https://127.0.0.1:{ports.listen}/api/get_user", json=body, ssl=False
            ) as response,
        ):
            assert response.status == 200 and (await response.json())["success"] is True


@pytest.mark.parametrize(
    ("stem", "cn", "sans", "caller"),
    [("spiffe", "ignored", [uri(SPIFFE)], "billing"),
     ("dns", "ignored", [dns("support.internal")], "support"),
     ("cn", "support.internal", None, "support")],
)  # fmt: skip
async def test_a_client_certificate_alone_identifies_its_caller(
    tmp_path: Path,
    ca: CertAuthority,
    stem: str,
    cn: str,
    sans: list[x509.GeneralName] | None,
    caller: str,
) -> None:
    cert = ca.issue(stem, cn, sans)
    with tls_gateway(tmp_path, ca) as (ports, proc, _):
        status, answer = await call(ports, client_context(ca, cert))
        assert status == 200 and answer["success"] is True
        proc.wait_for('"via":"client_cert"')
        records = [json.loads(x) for x in proc.lines if x.startswith("{") and '"audit"' in x]
        assert records[-1]["caller"] == caller and records[-1]["key_id"] is None


async def test_certificates_that_name_no_caller_or_disagree_with_the_key_are_refused(
    tmp_path: Path, ca: CertAuthority
) -> None:
    nobody = ca.issue("nobody", "nobody.internal")
    billing = ca.issue("billing", "x", [uri(SPIFFE)])
    (tmp_path / "other").mkdir()
    other_ca = CertAuthority(tmp_path / "other", "another CA")
    forged = other_ca.issue("forged", "x", [uri(SPIFFE)])
    with tls_gateway(tmp_path, ca) as (ports, _, _):
        assert (await call(ports, client_context(ca, nobody)))[0] == 401
        assert (await call(ports, client_context(ca, nobody), bearer("billing")))[0] == 200
        assert (await call(ports, client_context(ca, billing), bearer("support")))[0] == 401
        with contextlib.suppress(aiohttp.ClientError):  # the handshake may refuse it outright
            assert (await call(ports, client_context(ca, forged)))[0] == 401


async def test_sighup_serves_the_new_certificate_without_dropping_an_open_connection(
    tmp_path: Path, ca: CertAuthority
) -> None:
    with tls_gateway(tmp_path, ca) as (ports, proc, _):
        first = served_serial(ports.listen, ca)
        url = f"https://127.0.0.1:{ports.listen}/api/get_user"
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
                url, json=ALICE, headers=bearer("billing"), ssl=client_context(ca)
            ) as r:
                assert r.status == 200
            renewed = ca.server("server")  # same file names: the files change under the gateway
            assert renewed.serial != first
            proc.signal(signal.SIGHUP)
            proc.wait_for("config_reloaded")
            # The open keep-alive connection is still served...
            async with session.post(
                url, json=ALICE, headers=bearer("billing"), ssl=client_context(ca)
            ) as r:
                assert r.status == 200
        # ...and a new one gets the new certificate.
        assert served_serial(ports.listen, ca) == renewed.serial


async def test_a_ca_taken_out_of_client_ca_file_is_trusted_no_more_after_sighup(
    tmp_path: Path, ca: CertAuthority
) -> None:
    """Revoking a CA is taking it out of `client_ca_file`: after the reload, certificates it
    issued identify nobody, and those of the CA that replaced it do."""
    billing = ca.issue("billing", "x", [uri(SPIFFE)])
    (tmp_path / "next").mkdir()
    successor = CertAuthority(tmp_path / "next", "the successor CA")
    renewed = successor.issue("billing-renewed", "x", [uri(SPIFFE)])
    server_ca = tmp_path / "server-ca.pem"  # what clients verify the gateway's certificate with
    server_ca.write_bytes(ca.cert_file.read_bytes())

    def presenting(cert: Issued) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(server_ca))
        context.load_cert_chain(str(cert.cert), str(cert.key))
        return context

    async def status(cert: Issued) -> int | None:
        try:
            return (await call(ports, presenting(cert)))[0]
        except aiohttp.ClientError:
            return None  # the handshake refused the certificate outright

    with tls_gateway(tmp_path, ca) as (ports, proc, _):
        assert await status(billing) == 200
        assert await status(renewed) in (None, 401)  # its CA is not trusted yet
        ca.cert_file.write_bytes(successor.cert_file.read_bytes())  # the old CA taken out
        proc.signal(signal.SIGHUP)
        proc.wait_for("config_reloaded")
        assert await status(billing) in (None, 401), "the removed CA's certificate still works"
        assert await status(renewed) == 200


async def test_every_worker_serves_tls(tmp_path: Path, ca: CertAuthority) -> None:
    with tls_gateway(tmp_path, ca, "--workers", "2") as (ports, proc, _):
        proc.wait_for("worker_started", 2, 20)
        await asyncio.sleep(0.5)
        statuses: list[int] = []
        served: set[str] = set()
        while served != {"0", "1"} and len(statuses) < 60:  # a new connection each call
            statuses.append((await call(ports, client_context(ca), bearer("billing")))[0])
            served = await workers_that_served(ports)
        assert served == {"0", "1"}, proc.output()  # each worker answered over HTTPS
        assert statuses == [200] * len(statuses)  # the port serves HTTPS only: every one was


async def workers_that_served(ports: Ports) -> set[str]:
    """The `worker` label of every request counted on the pod's /metrics."""
    return {
        dict(labels)["worker"]
        for (name, labels), value in (await samples(ports.admin_url)).items()
        if name == "oma_gateway_requests_total" and value > 0
    }
