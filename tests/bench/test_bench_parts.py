"""The bench's own pieces: HTTP framing, the stub, percentiles, wrk's summary, the table."""

from __future__ import annotations

import asyncio

import orjson

from bench.httpclient import build_request, connect, parse_response
from bench.loadgen import MARK, Result, Target, median_result, parse_output, percentile, wrk_script
from bench.report import Ratio, Row, render
from bench.stub import AUTH_BODY, Stats, StubProtocol


def test_parse_response_takes_one_content_length_answer_and_leaves_the_rest() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 404")

    assert parse_response(buf) == (200, b"{}")
    assert buf == bytearray(b"HTTP/1.1 404")


def test_parse_response_waits_for_the_whole_body() -> None:
    assert parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}")) is None


def test_parse_response_reads_chunked_bodies() -> None:
    raw = b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"

    assert parse_response(bytearray(raw)) == (502, b"{}")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, 0)


def test_parse_output_reads_the_marked_json_line() -> None:
    line = MARK + orjson.dumps(
        {"requests": 2000, "duration_us": 2_000_000, "p50_us": 1500, "p99_us": 9000,
         "errors": {"connect": 0, "status": 3}}
    ).decode()  # fmt: skip

    result = parse_output(f"Running 2s test\n{line}\n", "wrk")

    assert result == Result(1000.0, 1.5, 9.0, 2000, 3, "wrk")


def test_median_result_takes_medians_and_sums_counts() -> None:
    runs = [Result(r, r / 10, r / 5, 10, 1, "open-loop") for r in (100.0, 300.0, 200.0)]

    median = median_result(runs)

    assert (median.rps, median.p50_ms, median.requests, median.errors) == (200.0, 20.0, 30, 3)
    assert median.tool == "open-loop x3"


def test_wrk_script_posts_the_body_with_every_header() -> None:
    script = wrk_script(Target("http://x/api/get_user", b'{"a":1}', {"Authorization": "Bearer k"}))

    assert 'wrk.method = "POST"' in script
    assert '[==[{"a":1}]==]' in script
    assert 'wrk.headers["Authorization"] = "Bearer k"' in script
    assert "function done(summary, latency, requests)" in script


def test_render_names_missing_rows_and_ratios() -> None:
    base = Row("(b)", "baseline", Result(4000.0, 10.0, 20.0, 1, 0, "wrk"))
    gone = Row("(c)", "nginx proxy_pass", None, "not installed")

    table = render([base, gone], [Ratio("(b)/(c)", base, gone)], None, [], [], [], "t")

    assert "not installed" in table
    assert "n/a ((c) missing)" in table
    assert "in-flight: skipped" in table


async def test_stub_answers_authenticate_with_a_token_and_counts_calls() -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(lambda: StubProtocol(stats, 0.0), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        conn = await connect("127.0.0.1", port)
        auth = await conn.call(build_request("127.0.0.1", port, "/api/authenticate", b"{}", {}))
        user = await conn.call(build_request("127.0.0.1", port, "/api/get_user", b"{}", {}))
        conn.close()

    assert auth == (200, AUTH_BODY)
    assert user[0] == 200 and orjson.loads(user[1])["success"] is True
    assert stats.calls == {"authenticate": 1, "get_user": 1}
