"""The store section of the config: the URL schemes a fleet uses, and its new fields."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from gateway.validation import ConfigError, parse_settings

KEY_ENV = {"STORE_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(), "OMA_PW": "pw"}


def document(**store: Any) -> dict[str, Any]:
    return {
        "store": {"encryption_key_env": "STORE_KEY", **store},
        "upstreams": {
            "oma": {"url": "http://127.0.0.1:1/api", "user": "u", "password_env": "OMA_PW"}
        },
        "callers": {"billing": {"keys": ["sha256:" + "0" * 64], "allow": ["get_user"]}},
    }


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://r:6380/1", "unix:///run/redis.sock",
     "redis+cluster://10.0.0.1:7000", "rediss+cluster://10.0.0.1:7000"],
)  # fmt: skip
def test_every_redis_url_form_is_accepted(url: str) -> None:
    assert parse_settings(document(url=url), KEY_ENV).store.url == url


def test_an_unknown_store_scheme_is_a_problem_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document(url="memcached://x"), KEY_ENV)
    assert [p for p in caught.value.problems if p.startswith("store.url:")]


def test_local_fallback_defaults_on_and_can_be_turned_off() -> None:
    assert parse_settings(document(url="redis://r/0"), KEY_ENV).store.local_fallback
    off = parse_settings(document(url="redis://r/0", local_fallback=False), KEY_ENV)
    assert not off.store.local_fallback


def test_local_fallback_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document(url="redis://r/0", local_fallback="yes"), KEY_ENV)
    assert caught.value.problems == ["store.local_fallback: expected true or false"]
