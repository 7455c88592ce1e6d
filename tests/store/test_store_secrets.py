"""The store's secrets from the environment or files, never the URL: a real redis-server that
requires a password, and `store_degraded` saying why the store was lost."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.secrets import Secret
from gateway.store import open_store
from gateway.validation import ConfigError, parse_settings

from ..support import cli, free_port, redis_server
from .conftest import redis_settings

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
ENV = {"STORE_KEY": KEY, "OMA_PW": "pw", "REDIS_PW": "redis-secret-1"}


def document(**store: Any) -> dict[str, Any]:
    return {
        "store": {"url": "redis://127.0.0.1:6379/0", **store},
        "upstreams": {
            "oma": {"url": "http://127.0.0.1:1/api", "user": "u", "password_env": "OMA_PW"}
        },
        "callers": {"billing": {"keys": ["sha256:" + "0" * 64], "allow": ["get_user"]}},
    }


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(doc, ENV)
    return caught.value.problems


def test_the_redis_password_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    by_env = parse_settings(document(encryption_key_env="STORE_KEY", password_env="REDIS_PW"), ENV)
    assert by_env.store.password == Secret("redis-secret-1")
    (tmp_path / "pw").write_text("from-a-file\n")
    by_file = document(encryption_key_env="STORE_KEY", password_file=str(tmp_path / "pw"))
    assert parse_settings(by_file, ENV).store.password == Secret("from-a-file")


def test_a_password_in_the_store_url_is_refused() -> None:
    doc = document(url="redis://:hunter2@127.0.0.1:6379/0", encryption_key_env="STORE_KEY")
    assert problems(doc) == [
        "store.url: no password in the URL: use store.password_env or store.password_file"
    ]


def test_the_store_key_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    settings = parse_settings(document(encryption_key_file=str(tmp_path / "key")), ENV)
    assert settings.store.encryption_key == Secret(KEY)
    (tmp_path / "short").write_text("c2hvcnQ=")
    assert problems(document(encryption_key_file=str(tmp_path / "short"))) == [
        "store.encryption_key_file: the key must be 32 random bytes in URL-safe base64"
    ]


def test_store_fields_are_checked_with_their_paths(tmp_path: Path) -> None:
    doc = document(
        encryption_key_env="STORE_KEY",
        encryption_key_file=str(tmp_path / "none"),
        password_env="REDIS_PW",
        password_file=str(tmp_path / "none"),
        ca_file=str(tmp_path / "missing.pem"),
        replicas=0,
    )
    found = problems(doc)
    assert "store: set only one of encryption_key_env or encryption_key_file" in found
    assert "store: set only one of password_env or password_file" in found
    assert any(p.startswith("store.ca_file: cannot read") for p in found)
    assert "store.replicas: expected a whole number, 1 or more" in found


def test_replicas_default_to_one_and_are_read() -> None:
    assert parse_settings(document(encryption_key_env="STORE_KEY"), ENV).store.replicas == 1
    doc = document(encryption_key_env="STORE_KEY", replicas=3)
    assert parse_settings(doc, ENV).store.replicas == 3


@pytest.fixture
def password_redis() -> Iterator[str]:
    with redis_server(options=["--requirepass", ENV["REDIS_PW"]]) as url:
        yield url


async def test_a_password_protected_redis_is_reached_with_the_configured_password(
    password_redis: str,
) -> None:
    store = open_store(redis_settings(password_redis, password=Secret(ENV["REDIS_PW"])))
    try:
        assert await store.ping() and store.healthy
    finally:
        await store.close()


async def test_a_wrong_redis_password_degrades_the_store_with_reason_auth(
    password_redis: str,
) -> None:
    store = open_store(redis_settings(password_redis, password=Secret("wrong")))
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await store.ping()
    finally:
        await store.close()
    degraded = [e for e in logs if e["event"] == "store_degraded"]
    assert [e["reason"] for e in degraded] == ["auth"]
    assert "wrong" not in repr(logs)


async def test_a_redis_that_is_not_there_degrades_the_store_with_reason_refused() -> None:
    store = open_store(redis_settings(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await store.ping()
    finally:
        await store.close()
    assert [e["reason"] for e in logs if e["event"] == "store_degraded"] == ["refused"]


def test_check_config_refuses_a_password_in_the_store_url(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "store: {url: 'redis://:hunter2@127.0.0.1:6379/0', encryption_key_env: STORE_KEY}\n"
        "upstreams: {oma: {url: 'http://127.0.0.1:1/api', user: u, password_env: OMA_PW}}\n"
        "callers: {billing: {keys: ['sha256:" + "0" * 64 + "'], allow: [get_user]}}\n"
    )
    result = cli("check-config", str(config), env=ENV)
    assert result.returncode == 1
    assert "store.url: no password in the URL" in result.stdout + result.stderr
    assert "hunter2" not in result.stdout + result.stderr
