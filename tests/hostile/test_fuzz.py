"""The hostile-input campaign against a real gateway process: no 500, no crash, no secret in any
output line or in any answer (the OMA password, the gateway's session token, a `credentials`
object), bounded memory. Example counts are fixed so CI stays well under a minute; the soak
(`python -m bench.fuzz_soak --minutes 10`) runs the same campaign for as long as asked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..support import OMA_PASSWORD
from . import campaign
from .support import BODY, Gateway, gateway

#: Examples per strategy in CI: 1,600 requests, about 10 s on two busy cores.
METHOD_EXAMPLES, HEADER_EXAMPLES, BODY_EXAMPLES = 400, 400, 800


def campaign_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@dataclass(frozen=True)
class Target:
    gw: Gateway
    rss_start: float
    #: What no answer may hold: the OMA password and the session token the gateway holds.
    secrets: tuple[str, ...]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with gateway(tmp_path_factory.mktemp("fuzz")) as gw:
        assert gw.call("get_user", BODY, {"Authorization": f"Bearer {campaign.KEY}"})[0] == 200
        tokens = gw.session_tokens()  # the call above carried it to the sandbox
        assert tokens
        yield Target(gw, gw.rss_mib(), (OMA_PASSWORD, *tokens))
        # Every answer was checked against every session token the gateway ever sent.
        assert gw.session_tokens() == tokens
    assert gw.proc.popen.returncode == -9  # alive to the end: only the cleanup killed it
    gw.assert_output_clean()


#: Status (None: closed unanswered) -> examples, over the whole module, to show what was hit.
OUTCOMES: Counter[int | None] = Counter()


def _probe(target: Target, method: str, auth: str, others: list[str], body: bytes) -> None:
    gw = target.gw
    raw = campaign.request_bytes(method, auth, others, body)
    OUTCOMES[campaign.judge(campaign.send(gw.ports.listen, raw), target.secrets)] += 1
    assert gw.proc.popen.poll() is None, gw.proc.output()


@campaign_settings(METHOD_EXAMPLES)
@given(method=campaign.METHODS)
def test_fuzzed_method_names(target: Target, method: str) -> None:
    _probe(target, method, f"Authorization: Bearer {campaign.KEY}", [], b"{}")


@campaign_settings(HEADER_EXAMPLES)
@given(auth=campaign.AUTH_HEADERS, others=campaign.OTHER_HEADERS)
def test_fuzzed_headers(target: Target, auth: str, others: list[str]) -> None:
    _probe(target, "get_user", auth, others, b'{"user": "alice@demo.example"}')


@campaign_settings(BODY_EXAMPLES)
@given(body=campaign.BODIES, method=st.sampled_from(["get_user", "echo", "authenticate"]))
def test_fuzzed_bodies(target: Target, body: bytes, method: str) -> None:
    _probe(target, method, f"Authorization: Bearer {campaign.KEY}", [], body)


@pytest.mark.parametrize("depth", [254, 255, 256, 512, 1023, 1024, 1025, 5000])
@pytest.mark.parametrize("kind", ["list", "object"])
def test_deep_bodies_are_bad_request_not_500(target: Target, depth: int, kind: str) -> None:
    raw = campaign.request_bytes(
        "echo", f"Authorization: Bearer {campaign.KEY}", [], campaign._deep(depth, kind)
    )
    answer = campaign.send(target.gw.ports.listen, raw)
    assert campaign.judge(answer, target.secrets) == 400
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["gateway_error"] == "bad_request"


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"echo": "SECRET"}',
        b"HTTP/1.1 200 OK\r\nX-Leak: SECRET\r\n\r\n{}",
        b'HTTP/1.1 200 OK\r\n\r\n{"a": [{"credentials": {"user": "u"}}]}',
        b'HTTP/1.1 200 OK\r\n\r\n{"a": {"cr\\u0065dentials": 1}}',
    ],
)
def test_the_judge_fails_an_answer_with_a_secret_or_credentials(answer: bytes) -> None:
    with pytest.raises(AssertionError):
        campaign.judge(answer, ["SECRET"])


def test_the_campaign_left_memory_bounded(target: Target) -> None:
    # Runs last in this module: after every probe above, the process holds no more than its
    # buffers' worth (a 1 MiB body at a time, the allocator's high-water mark).
    grown = target.gw.rss_mib() - target.rss_start
    print(f"RSS grew {grown:.1f} MiB over the campaign; answers {dict(OUTCOMES)}")
    assert grown < 64
    assert OUTCOMES[None] < OUTCOMES.total() / 4  # most probes were answered, not just dropped
