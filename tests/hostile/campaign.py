"""The hostile-input campaign: what an attacker with the callers' port sends, as hypothesis
strategies, and the probe that sends one request over a raw socket and judges the answer.

Shared by the CI test (`test_fuzz.py`, fixed example counts) and the soak
(`python -m bench.fuzz_soak --minutes 10`, as many examples as the time allows).
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.parse
from collections.abc import Iterable

import orjson
from hypothesis import strategies as st

from ..support import KEYS

KEY = KEYS["billing"]


def _text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size)


METHODS = st.one_of(
    st.sampled_from([
        "get_user", "echo", "authenticate", "search_users", "delete_domain", "_private",
        "GET_USER", "get_user/", "..%2fadmin", "a" * 300, "get user", "", "%00", "get_user;x",
    ]),
    _text(80),
)  # fmt: skip

AUTH_HEADERS = st.one_of(
    st.sampled_from([
        f"Authorization: Bearer {KEY}", f"Authorization: bearer  {KEY}  ", "Authorization: Bearer",
        "Authorization: Basic Zm9vOmJhcg==", f"Authorization: {KEY}", "Authorization: Bearer x",
        f"X-API-Key: {KEY}", "X-API-Key: ", f"X-API-Key: {KEY}\x01",
        f"Authorization: Bearer {KEY}\x00",
        "", f"Authorization: Bearer {KEY}\r\nAuthorization: Bearer other",
    ]),
    _text(60).map(lambda t: f"Authorization: Bearer {t}"),
)  # fmt: skip

OTHER_HEADERS = st.lists(
    st.one_of(
        st.sampled_from([
            "Content-Type: application/json", "Content-Type: text/plain; charset=utf-16",
            "Content-Encoding: gzip", "Content-Encoding: br", "Transfer-Encoding: chunked",
            "X-Request-ID: " + "r" * 200, "X-Request-ID: ../../etc", "Expect: 100-continue",
            "X-Forwarded-For: 10.0.0.1, ::1", "Connection: keep-alive", "Host: " + "h" * 9000,
        ]),
        st.tuples(_text(20, min_size=1), _text(40)).map(": ".join),
    ),
    max_size=4,
)  # fmt: skip

JSON_TREES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text(30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text(10), inner, max_size=5),
    max_leaves=30,
)


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    return b'{"a": ' * depth + b"1" + b"}" * depth


def _padded(size: int) -> bytes:
    """A JSON object of `size` bytes (max_body is 1 MiB)."""
    return b'{"a": "' + b"x" * (size - 9) + b'"}'


BODIES = st.one_of(
    st.builds(lambda t: json.dumps({"user": "alice@demo.example", "x": t}).encode(), JSON_TREES),
    st.builds(_padded, st.sampled_from([1024 * 1024 - 20, 1024 * 1024 + 1, 3 * 1024 * 1024])),
    st.builds(_deep, st.integers(1, 1100), st.sampled_from(["list", "object"])),
    st.sampled_from([
        b'{"user": "a@demo.example", "user": 1, "credentials": {}, "credentials": {"x": 1}}',
        b'{"credentials": {"user": "billing", "password": "' + KEY.encode() + b'"}}',
        b'{"credentials": {"user": "billing", "password": "' + KEY.encode() + b'", "user": 2}}',
        b'{"a": 123456789012345678901234567890}', b'{"a": NaN}', b'{"a": "\\ud800"}',
        b"\xef\xbb\xbf{}", b"[]", b"null", b"", b'"x"', b'{"a": 1e999}', b'{"a": -0, "b": 1E400}',
        '{"u": "ünïcødé"}'.encode("utf-16"), '{"u": "é"}'.encode("latin-1"),
        b"\x1f\x8b\x08\x00garbage", b'{"a": "\\u0000\\udfff\\ud83d"}', b'{"\\u0000": 1}',
    ]),
    st.binary(max_size=2048),
)  # fmt: skip


def request_bytes(method: str, auth: str, others: list[str], body: bytes) -> bytes:
    path = "/api/" + urllib.parse.quote(method, safe="")
    lines = [f"POST {path} HTTP/1.1", "Host: gateway", "Connection: close", auth, *others]
    if not any(h.lower().startswith("content-length") for h in others):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(line for line in lines if line) + "\r\n\r\n"
    return head.encode() + body


def send(port: int, raw: bytes, timeout: float = 15.0) -> bytes:
    """The whole answer to `raw` (the server closes: `Connection: close`), b"" if none."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # No half-close: a server may (aiohttp does) take EOF as the end of the connection. A
        # refusal before the whole request went in is judged by what came back.
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def judge(answer: bytes, secrets: Iterable[str] = ()) -> int | None:
    """The answer's status; fails on a 500, a gateway answer that is not OMA's envelope, or an
    answer (status line, headers or body) that holds one of `secrets` or a `credentials`
    object."""
    if not answer:
        return None  # the connection was closed: allowed for a request aiohttp could not parse
    status = int(answer.split(b" ", 2)[1])
    assert status != 500, answer[:2000]
    head, _, body = answer.partition(b"\r\n\r\n")
    for secret in secrets:
        assert secret.encode() not in answer, f"a secret in the answer: {head[:200]!r}"
    assert not _credentials_in(body), body[:500]
    if b"application/json" in head and status >= 400:
        envelope = orjson.loads(body)
        assert envelope["success"] is False and "gateway_error" in envelope, body[:500]
    return status


def _credentials_in(body: bytes) -> bool:
    """A `credentials` key anywhere in the body, whatever its JSON spelling."""
    if b'"credentials"' in body:
        return True
    try:
        stack = [orjson.loads(body)]
    except orjson.JSONDecodeError:
        return False
    while stack:  # iterative: a deep answer costs a loop, not the recursion limit
        value = stack.pop()
        if isinstance(value, dict):
            if "credentials" in value:
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
