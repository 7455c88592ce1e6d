"""The one table the bench prints: rows, ratios against same-run baselines, added latency."""

from __future__ import annotations

from dataclasses import dataclass

from bench.loadgen import Result


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    result: Result | None
    note: str = ""


@dataclass(frozen=True)
class Ratio:
    label: str
    top: Row
    bottom: Row


@dataclass(frozen=True)
class AddedLatency:
    label: str
    rate: float
    subject: Result
    reference: Result


@dataclass(frozen=True)
class InflightFigures:
    label: str
    calls: int
    errors: int
    peak_rss_mib: float
    auth_calls: int
    upstream_peak_in_flight: int
    seconds: float
    note: str = ""


WIDTH = 100


def _num(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _row_line(row: Row) -> str:
    head = f"{row.key:<4} {row.label:<38}"
    r = row.result
    if r is None:
        return f"{head} {row.note}"
    figures = f"{_num(r.rps, 0):>10} {_num(r.p50_ms):>9} {_num(r.p99_ms):>9} {r.errors:>7}"
    return f"{head} {figures}  {r.tool}{'  ' + row.note if row.note else ''}"


def _ratio_line(ratio: Ratio) -> str:
    top, bottom = ratio.top.result, ratio.bottom.result
    head = f"     {ratio.label:<38}"
    if top is None or bottom is None or bottom.rps == 0 or bottom.p50_ms == 0:
        return f"{head} n/a ({ratio.top.key if top is None else ratio.bottom.key} missing)"
    rps = top.rps / bottom.rps
    p50 = top.p50_ms / bottom.p50_ms
    p99 = top.p99_ms / bottom.p99_ms if bottom.p99_ms else 0.0
    return f"{head} {_num(rps):>10} {_num(p50):>9} {_num(p99):>9}"


def _added_line(added: AddedLatency) -> str:
    s, r = added.subject, added.reference
    head = f"     {added.label:<38}"
    return f"{head} {_num(s.p50_ms - r.p50_ms):>10} {_num(s.p99_ms - r.p99_ms):>9}"


def _fixed_line(label: str, result: Result) -> str:
    head = f"     {label:<38}"
    figures = f"{_num(result.rps, 0):>10} {_num(result.p50_ms):>9} {_num(result.p99_ms):>9}"
    return f"{head} {figures} {result.errors:>7}  {result.tool}"


def _inflight_line(f: InflightFigures) -> str:
    head = f"     {f.label:<38}"
    if f.calls == 0:
        return f"{head} {f.note}"
    body = (
        f"{f.calls:>7} {f.errors:>7} {_num(f.peak_rss_mib, 1):>10} {f.auth_calls:>6} "
        f"{f.upstream_peak_in_flight:>9} {_num(f.seconds, 1):>7}"
    )
    return head + " " + body + (f"  {f.note}" if f.note else "")


def render(
    rows: list[Row],
    ratios: list[Ratio],
    fixed_rate: float | None,
    fixed: list[tuple[str, Result]],
    added: list[AddedLatency],
    inflight: list[InflightFigures],
    title: str,
) -> str:
    rule = "-" * WIDTH
    out = ["=" * WIDTH, title, "=" * WIDTH]
    out.append(
        f"{'row':<4} {'max throughput (closed loop)':<38} {'req/s':>10} {'p50 ms':>9} "
        f"{'p99 ms':>9} {'errors':>7}  tool"
    )
    out += [_row_line(r) for r in rows]
    out += [rule, f"     {'ratios (same run)':<38} {'req/s x':>10} {'p50 x':>9} {'p99 x':>9}"]
    out += [_ratio_line(r) for r in ratios]
    out.append(rule)
    if fixed_rate is None:
        out.append("     fixed-rate latency: n/a (needs row (d))")
    else:
        out.append(
            f"     {f'at fixed {fixed_rate:,.0f} req/s (50% of (d))':<38} {'req/s':>10} "
            f"{'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
        )
        out += [_fixed_line(label, res) for label, res in fixed]
        out.append(f"     {'added latency at that rate':<38} {'p50 ms':>10} {'p99 ms':>9}")
        out += [_added_line(a) for a in added]
    out.append(rule)
    out.append(
        f"     {'in-flight (upstream answers after 1 s)':<38} {'calls':>7} {'errors':>7} "
        f"{'peak MiB':>10} {'auths':>6} {'upstream':>9} {'wall s':>7}"
    )
    out += [_inflight_line(f) for f in inflight] or ["     in-flight: skipped"]
    out.append("=" * WIDTH)
    return "\n".join(out)
