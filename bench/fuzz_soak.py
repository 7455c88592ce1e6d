"""The hostile-input campaign for as long as asked, against one real gateway process.

    python -m bench.fuzz_soak --minutes 10

The same strategies and judge as `tests/hostile/test_fuzz.py` (which runs a fixed 1,600 examples
in CI), drawn for `--minutes` instead, in rounds. Between rounds: the process must be alive, its
RSS is sampled; no answer may hold the OMA password, the gateway's session token or a
`credentials` object; at the end every output line must be one JSON object with no secret in it.
Prints one JSON summary (examples, answers by status, RSS first/peak/last, failures found) and
exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import campaign
from tests.hostile.support import BODY, Gateway, gateway
from tests.support import OMA_PASSWORD

ROUND = 500  # examples per hypothesis run: a fresh random seed each round


def soak(gw: Gateway, minutes: float) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    gw.call("get_user", BODY, {"Authorization": f"Bearer {campaign.KEY}"})  # a token in use
    tokens = gw.session_tokens()
    secrets = (OMA_PASSWORD, *tokens)  # in no answer
    rss = [gw.rss_mib()]

    @settings(max_examples=ROUND, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        method=campaign.METHODS | st.sampled_from(["get_user", "echo"]),
        auth=campaign.AUTH_HEADERS,
        others=campaign.OTHER_HEADERS,
        body=campaign.BODIES,
    )
    def probe(method: str, auth: str, others: list[str], body: bytes) -> None:
        raw = campaign.request_bytes(method, auth, others, body)
        outcomes[str(campaign.judge(campaign.send(gw.ports.listen, raw), secrets))] += 1
        assert gw.proc.popen.poll() is None, "the gateway died"

    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline and gw.proc.popen.poll() is None:
        try:
            probe()
        except Exception:  # a finding: recorded (shrunk by hypothesis), then the soak goes on
            failures.append(traceback.format_exc(limit=3)[-2000:])
        rss.append(gw.rss_mib())
    if gw.proc.popen.poll() is None and gw.session_tokens() != tokens:
        failures.append("a session token was issued mid-soak: answers were not checked for it")
    return {"answers": dict(outcomes), "rss": rss, "failures": failures}


def check_output(gw: Gateway) -> list[str]:
    try:
        gw.assert_output_clean()
    except AssertionError as exc:
        return [f"output: {str(exc)[:500]}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, gateway(Path(tmp)) as gw:
        started = time.monotonic()
        found = soak(gw, args.minutes)
        alive = gw.proc.popen.poll() is None
        failures = found["failures"] + check_output(gw) + ([] if alive else ["the gateway died"])
        rss = found["rss"]
        summary = {
            "seconds": round(time.monotonic() - started),
            "examples": sum(found["answers"].values()),
            "answers": found["answers"],
            "rss_mib": {
                "first": round(rss[0], 1),
                "peak": round(max(rss), 1),
                "last": round(rss[-1], 1),
            },
            "output_lines": len(gw.proc.lines),
            "failures": failures,
        }
    print(json.dumps(summary, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
