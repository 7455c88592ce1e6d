"""Garbage a hostile caller can make a real gateway process hold: bounded by bytes received.

The process collects its young generations rarely (`serve._steady_gc`), and aiohttp leaves a
reference cycle holding the buffers of every request it cannot parse (aio-libs/aiohttp#10671):
before `connections.COLLECT_EVERY`, 200 malformed 3 MiB requests sent one after another took a
gateway to 1.3 GiB of RSS. The bundled sandbox's own refusals of large bodies did the same.
"""

from __future__ import annotations

from pathlib import Path

from . import campaign
from .support import gateway

MIB = 1024 * 1024


def _rss_growth(tmp_path: Path, auth: str, body: bytes, calls: int) -> tuple[float, list[int]]:
    with gateway(tmp_path) as gw:
        raw = campaign.request_bytes("get_user", auth, [], body)
        start, statuses = gw.rss_mib(), []
        for _ in range(calls):
            statuses.append(campaign.judge(campaign.send(gw.ports.listen, raw)) or 0)
        grown = gw.rss_mib() - start
        gw.assert_output_clean()
        return grown, statuses


def test_malformed_requests_with_large_bodies_do_not_pile_up_as_garbage(tmp_path: Path) -> None:
    # A header name with a space: aiohttp refuses the request (400) before any handler runs.
    grown, statuses = _rss_growth(tmp_path, "Bad Header: x", campaign._padded(3 * MIB), 120)
    assert set(statuses) <= {400, 0}, statuses
    assert grown < 64, f"RSS grew {grown:.0f} MiB over 120 malformed 3 MiB requests"


def test_forwarded_large_bodies_do_not_pile_up_as_garbage(tmp_path: Path) -> None:
    key = f"Authorization: Bearer {campaign.KEY}"
    grown, statuses = _rss_growth(tmp_path, key, campaign._padded(MIB - 20), 120)
    assert set(statuses) == {200}, statuses  # the bundled sandbox answers every one
    assert grown < 64, f"RSS grew {grown:.0f} MiB over 120 forwarded 1 MiB calls"
