"""Redaction: by field name at any depth, by value anywhere, on every log line (property tests)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import logs
from gateway.audit.redact import REDACTED, Redactor, is_secret_name

# Secrets as the gateway holds them are tokens and passwords; they may carry JSON-special and
# non-ASCII characters. Upper case and brackets are left out so that "[REDACTED]" next to other
# text cannot spell a secret anew (which would be a false alarm, not a leak).
SECRET_TEXT = st.text(
    alphabet=st.sampled_from('abcdefghijklmnopqrstuvwxyz0123456789"\\/+=_-.é€ '),
    min_size=8,
    max_size=40,
).filter(lambda text: any(c.isalpha() for c in text))
# A secret made of digits alone would "leak" through any number that spells it (a timestamp
# 1700000000.0 contains 00000000): numbers are not strings and are not redacted; no credential
# the gateway holds is all digits.
SECRET_NAMES = st.sampled_from(
    ["password", "token", "session_token", "credentials", "secret", "Authorization",
     "X-API-Key", "api_key", "old_password", "remote_password", "access_token"]
)  # fmt: skip
MARKER = "SENTINEL_VALUE_UNDER_A_SECRET_NAME"
PLAIN_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda n: not is_secret_name(n)
)


def with_case(name: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c for c, f in zip(name, flips + [False] * 40, strict=False))


@st.composite
def bodies(draw: st.DrawFn, secrets: list[str]) -> Any:
    """A JSON value with secrets hidden inside strings and secret-named keys at any depth."""
    leaf = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
        st.builds(lambda a, s, b: a + s + b, st.text(max_size=10), st.sampled_from(secrets),
                  st.text(max_size=10)),
        st.text(max_size=20),
    )  # fmt: skip
    named = st.builds(
        lambda name, flips: with_case(name, flips), SECRET_NAMES, st.lists(st.booleans())
    )
    keys = st.one_of(PLAIN_NAMES, named)
    tree = st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )
    value = draw(tree)
    return _plant(value, draw(named))


def _plant(value: Any, name: str) -> dict[str, Any]:
    """Every body gets at least one secret-named key holding the marker, nested one level."""
    return {"outer": {name: {"nested": MARKER}}, "body": value}


def leaked(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text or json.dumps(s)[1:-1] in text]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), secrets=st.lists(SECRET_TEXT, min_size=1, max_size=3))
def test_no_secret_value_or_secret_named_field_survives_redaction(
    data: st.DataObject, secrets: list[str]
) -> None:
    redactor = Redactor()
    redactor.add_source(lambda: secrets)
    body = data.draw(bodies(secrets))
    out = json.dumps(redactor.redact(body), ensure_ascii=False)
    assert not leaked(out, secrets)
    assert MARKER not in out


@pytest.fixture
def log_stream() -> Iterator[io.BytesIO]:
    stream = io.BytesIO()
    logs.configure(stream=stream, cache=False)
    yield stream
    structlog.reset_defaults()


@settings(max_examples=60, deadline=None)
@given(
    secrets=st.lists(SECRET_TEXT, min_size=1, max_size=3),
    names=st.lists(st.one_of(PLAIN_NAMES, SECRET_NAMES), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_every_log_line_is_redacted_whatever_its_attribute_names(
    secrets: list[str], names: list[str], data: st.DataObject
) -> None:
    from gateway.audit.redact import REDACTOR

    stream = io.BytesIO()
    logs.configure(stream=stream, cache=False)
    remove = REDACTOR.add_source(lambda: secrets)
    try:
        values = {n: data.draw(bodies(secrets)) for n in names if n != "event"}
        structlog.get_logger("any").warning("something_happened", **values)
    finally:
        remove()
        structlog.reset_defaults()
    line = stream.getvalue().decode()
    assert line.count("\n") == 1
    event = json.loads(line)
    assert event["event"] == "something_happened"
    assert not leaked(line, secrets) and MARKER not in line
    for name in names:
        if any(secret in name for secret in secrets):
            assert name not in event  # the name itself carried a secret: it was cut too
        elif is_secret_name(name):
            assert event[name] == REDACTED


def test_a_secret_in_an_exception_text_is_cut_from_the_traceback(log_stream: io.BytesIO) -> None:
    from gateway.audit.redact import REDACTOR

    token = "tok_0123456789abcdef0123456789"
    remove = REDACTOR.add_source(lambda: [token])
    try:
        try:
            raise RuntimeError(f"upstream said no to token={token}")
        except RuntimeError:
            structlog.get_logger("any").exception("unhandled_error")
    finally:
        remove()
    line = log_stream.getvalue().decode()
    assert token not in line and "RuntimeError" in line and REDACTED in line


def test_log_lines_are_json_with_utc_timestamp_and_level(log_stream: io.BytesIO) -> None:
    structlog.get_logger("any").info("hello", answer=42)
    event = json.loads(log_stream.getvalue())
    assert event["event"] == "hello" and event["answer"] == 42 and event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_field_names_are_matched_case_insensitively_and_as_suffixes() -> None:
    for name in ("PASSWORD", "Session_Token", "x-api-key", "remote_password", "Credentials"):
        assert is_secret_name(name)
    for name in ("user", "key_id", "token_age", "domain", "ids"):
        assert not is_secret_name(name)


def test_a_removed_source_no_longer_redacts() -> None:
    redactor = Redactor()
    remove = redactor.add_source(lambda: ["supersecretvalue"])
    assert redactor.redact("a supersecretvalue b") == f"a {REDACTED} b"
    remove()
    assert redactor.redact("a supersecretvalue b") == "a supersecretvalue b"


def test_very_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor()
    redactor.add_source(lambda: ["abc"])
    assert redactor.redact("abcdef") == "abcdef"


def test_a_rotated_secret_is_cut_from_the_next_line_and_the_old_one_no_longer() -> None:
    held = ["session-token-one"]
    redactor = Redactor()
    redactor.add_source(lambda: held)
    assert redactor.redact("t=session-token-one") == f"t={REDACTED}"
    held[:] = ["session-token-two"]  # a token rotates without telling the secret set
    assert redactor.redact("session-token-two") == REDACTED
    assert redactor.redact("session-token-one") == "session-token-one"


def test_a_source_added_later_redacts_from_the_next_line() -> None:
    redactor = Redactor()
    redactor.add_source(lambda: ["first-secret-value"])
    assert redactor.redact("second-secret-value") == "second-secret-value"
    redactor.add_source(lambda: ["second-secret-value"])
    assert redactor.redact("first-secret-value second-secret-value") == f"{REDACTED} {REDACTED}"


def test_a_callers_key_is_cut_only_from_the_lines_it_is_given_to() -> None:
    redactor = Redactor()
    redactor.add_source(lambda: ["upstream-password"])
    text = "upstream-password omagw_callers_key"
    assert redactor.redact(text, extra=["omagw_callers_key"]) == f"{REDACTED} {REDACTED}"
    assert redactor.redact(text) == f"{REDACTED} omagw_callers_key"


def test_a_url_password_is_cut_whatever_the_addresses_around_it() -> None:
    redactor = Redactor()
    text = "to bob@demo.example via redis://:hunter2hunter@cache:6379/0 and https://u:pw@x/"
    assert redactor.redact(text) == (
        f"to bob@demo.example via redis://:{REDACTED}@cache:6379/0 and https://u:{REDACTED}@x/"
    )
    assert redactor.redact({"user": "bob@demo.example"}) == {"user": "bob@demo.example"}
