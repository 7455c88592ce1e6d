"""The image's command works, short of a Docker engine: the builder stage's RUN lines are run
against a copy of the build context (.dockerignore applied) into fresh venvs, then the exact
ENTRYPOINT + CMD, under the runtime stage's ENV, serves the compose config against a real
sandbox, passes the image's HEALTHCHECK, reloads on SIGHUP and drains to exit 0 on SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .artifacts import (
    ROOT,
    build_context,
    compose_gateway_config,
    dockerfile,
    env_of,
    last,
    seconds,
    stages,
    tool,
)

# A cold pip cache makes the builder stage the slow part: allow more than pyproject's 120s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

IMAGE_CONFIG = "/etc/oma-gateway/config.yaml"
DEMO_KEY = "omagw_local-compose-demo-key-NOT-SECRET"  # its digest is in deploy/compose/gateway.yaml
SANDBOX_PASSWORD = "sandbox-password-for-this-test"


@dataclass(frozen=True)
class Image:
    """Where the image's paths live in this test: /opt/oma-gateway and friends."""

    paths: dict[str, Path]

    def translate(self, text: str) -> str:
        for image_path, here in self.paths.items():
            text = text.replace(image_path, str(here))
        return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback URL)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_for(url: str, want: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # generous: CI machines run other suites alongside
    while time.monotonic() < deadline:
        if status(url) == want:
            return
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()}"
        time.sleep(0.2)
    pytest.fail(f"{url} never answered {want}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The builder stage, run here: its RUN lines with the image's paths mapped into a tmp dir."""
    tmp = tmp_path_factory.mktemp("image")
    context = tmp / "src"  # the builder's WORKDIR, holding what its COPY lines bring in
    for relative in build_context():
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    assert (context / "README.md").exists(), "README.md (pyproject's readme) must be in the context"
    built = Image(
        {
            p: tmp / p.strip("/").replace("/", "-")
            for p in ("/opt/oma-gateway", "/opt/build", "/wheels")
        }
    )
    builder = stages(dockerfile())[0]
    env = {**os.environ, **env_of(builder)}
    env.pop("PIP_NO_CACHE_DIR")  # the image keeps no pip cache; here the cache saves a minute
    env["PATH"] = (
        f"{Path(sys.executable).parent}:{env['PATH']}"  # `python` is 3.11, as in the image
    )
    for instruction in builder:
        if instruction.keyword == "RUN":
            command = built.translate(instruction.args)
            result = subprocess.run(  # noqa: S603 (the Dockerfile's own RUN line, as Docker runs it)
                ["/bin/sh", "-c", command],
                cwd=context,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
    return built


@pytest.fixture
def sandbox(image: Image, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    command = [
        str(image.paths["/opt/oma-gateway"] / "bin" / "oma-gateway"),
        "sandbox",
        "--listen",
        f"127.0.0.1:{port}",
        "--user",
        compose_gateway_config()["upstreams"]["sandbox"]["user"],
        "--password",
        SANDBOX_PASSWORD,
    ]
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 (ours)
    try:
        deadline = time.monotonic() + 20
        while status(f"http://127.0.0.1:{port}/api/nothing") == 0:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        process.terminate()
        process.wait(timeout=10)


def config_for_this_host(sandbox: str, tmp_path: Path) -> tuple[Path, int, int]:
    """deploy/compose/gateway.yaml with only what names the compose network or its volumes
    changed: loopback ports, the sandbox URL, the secret files, the audit file, a memory store."""
    config = compose_gateway_config()
    listen, admin = free_port(), free_port()
    config["listen"], config["admin_listen"] = f"127.0.0.1:{listen}", f"127.0.0.1:{admin}"
    config["store"]["url"] = "memory://"
    key = tmp_path / "store_key"
    key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    config["store"]["encryption_key_file"] = str(key)
    password = tmp_path / "oma_password"
    password.write_text(SANDBOX_PASSWORD + "\n")
    config["upstreams"]["sandbox"].update(url=sandbox, password_file=str(password))
    config["audit"]["file"] = str(tmp_path / "audit.jsonl")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, listen, admin


def test_image_command_serves_reloads_and_drains_to_exit_zero(
    image: Image, sandbox: str, tmp_path: Path
) -> None:
    tool("tini")  # the ENTRYPOINT's /usr/bin/tini: Debian's package, as in the image
    config, listen, admin = config_for_this_host(sandbox, tmp_path)
    runtime = stages(dockerfile())[-1]
    command = [
        image.translate(arg).replace(IMAGE_CONFIG, str(config))
        for arg in last(runtime, "ENTRYPOINT").exec_form() + last(runtime, "CMD").exec_form()
    ]
    env = {
        k: image.translate(v).replace("$PATH", os.environ["PATH"])
        for k, v in env_of(runtime).items()
    }
    env.update(TINI_SUBREAPER="1")  # PID 1's duty, not being PID 1
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 (ours)
    try:
        wait_for(f"http://127.0.0.1:{admin}/healthz", 200, process, log)
        healthcheck = last(runtime, "HEALTHCHECK").exec_form()
        env_check = {**env, "OMA_GATEWAY_HEALTHCHECK_URL": f"http://127.0.0.1:{admin}/healthz"}
        checked = subprocess.run(healthcheck, env=env_check, capture_output=True, timeout=10)  # noqa: S603 (ours)
        assert checked.returncode == 0, checked.stderr
        wait_for(f"http://127.0.0.1:{admin}/readyz", 200, process, log)
        assert_a_call_goes_through(listen)

        process.send_signal(signal.SIGHUP)  # to tini, which passes it on
        deadline = time.monotonic() + 20
        while b"config_reloaded" not in log.read_bytes():
            assert time.monotonic() < deadline, f"no reload after SIGHUP:\n{log.read_text()}"
            time.sleep(0.1)
        assert status(f"http://127.0.0.1:{admin}/healthz") == 200

        process.send_signal(signal.SIGTERM)
        drain = sum(seconds(compose_gateway_config()[k]) for k in ("drain_delay", "drain_timeout"))
        assert process.wait(timeout=drain + 10) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def assert_a_call_goes_through(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/get_user",
        data=json.dumps({"user": "nobody@example.com"}).encode(),
        headers={"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    assert "gateway_error" not in body, body  # OMA's own answer, whatever it says about the user
