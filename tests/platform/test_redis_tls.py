"""`store.ca_file` for `rediss://`: a real redis-server speaking TLS only, with a CA made in the
test, reached by the gateway as a real process (and refused without the CA)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import urllib.request
from pathlib import Path

import pytest

from gateway.store.connect import connect

from ..ops.procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config
from ..support import KEYS, redis_server
from .certs import Pki, make_pki


def tls_redis(pki: Pki) -> contextlib.AbstractContextManager[str]:
    return redis_server(
        options=["--tls-cert-file", str(pki.cert_file), "--tls-key-file", str(pki.key_file),
                 "--tls-ca-cert-file", str(pki.ca_file), "--tls-auth-clients", "no"],
        tls=True,
    )  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


async def test_rediss_is_trusted_with_the_stores_ca_file_and_only_with_it(pki: Pki) -> None:
    with tls_redis(pki) as url:
        trusting = connect(url, 2.0, ca_file=str(pki.ca_file))
        assert await trusting.ping() is True
        await trusting.aclose()
        stranger = connect(url, 2.0)
        with pytest.raises(Exception, match="certificate verify failed"):
            await stranger.ping()
        await stranger.aclose()


def test_the_gateway_keeps_its_session_in_a_tls_redis_with_store_ca_file(
    pki: Pki, tmp_path: Path
) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with tls_redis(pki) as url, sandbox_process() as oma_url:
        ports = Ports()
        document = config(oma_url, ports, {"billing": ["billing"]}, store={
            "url": url, "ca_file": str(pki.ca_file), "encryption_key_env": "STORE_KEY_T",
            "on_error": "fail_closed",
        })  # fmt: skip
        path = write_config(tmp_path / "gw.yaml", document)
        with gateway_process("serve", "--config", str(path), env={"STORE_KEY_T": key}) as gw:
            wait_ready(ports.admin_url)
            request = urllib.request.Request(  # noqa: S310 (our own http:// URL)
                f"{ports.url}/api/get_user", data=b'{"user": "alice@demo.example"}',
                headers={"Authorization": f"Bearer {KEYS['billing']}"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                assert answer.status == 200
            gw.signal(signal.SIGTERM)
            assert gw.wait(30) == 0
        assert not any("store_degraded" in line for line in gw.lines), gw.output()
