"""Scrubbing of upstream answers: nothing the gateway holds reaches a caller."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from gateway.scrub import REDACTED, scrub

TOKEN = "tok_0123456789abcdef"
PASSWORD = "hunter2!"


def test_clean_answers_pass_through_byte_for_byte() -> None:
    raw = b'{"success": true, "attributes": {"name": "Alice"}}'
    assert scrub(raw, orjson.loads(raw), [TOKEN, PASSWORD]) is raw


def test_echoed_credentials_are_dropped() -> None:
    body = {"success": True, "credentials": {"user": "gw@x.adm", "token": TOKEN}, "a": 1}
    out = orjson.loads(scrub(orjson.dumps(body), body, [TOKEN]))
    assert out == {"success": True, "a": 1}


def test_secret_values_anywhere_are_replaced() -> None:
    body = {"success": True, "deep": [{"note": f"pw is {PASSWORD}"}, TOKEN]}
    out = orjson.loads(scrub(orjson.dumps(body), body, [TOKEN, PASSWORD]))
    assert out == {"success": True, "deep": [{"note": f"pw is {REDACTED}"}, REDACTED]}


def test_token_query_parameters_in_urls_are_redacted() -> None:
    url = "https://admin.a.hostedemail.com/api/oma_file/get?type=domain&user=a%40b.adm&token=abc123&x=1"
    body = {"success": True, "snapshot": url}
    out = orjson.loads(scrub(orjson.dumps(body), body, []))
    assert out["snapshot"].endswith(f"token={REDACTED}&x=1")


def test_session_token_keys_are_dropped() -> None:
    body = {"success": True, "session_token": "abc", "session_token_duration": 10}
    out = orjson.loads(scrub(orjson.dumps(body), body, []))
    assert "session_token" not in out and out["session_token_duration"] == 10


JSON_TREES = st.recursive(
    st.text() | st.integers(-(2**63), 2**63 - 1) | st.booleans(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(JSON_TREES, st.sampled_from(["tök€n-ünïcode", TOKEN, 'pa"ss\\word']))
def test_no_secret_survives_scrubbing_whatever_the_shape(tree: object, secret: str) -> None:
    body = {"success": True, "data": tree, "leak": f"x{secret}y", "list": [secret]}
    out = scrub(orjson.dumps(body), body, [secret])
    assert secret not in orjson.loads(out)["leak"]
    assert secret not in str(orjson.loads(out))
