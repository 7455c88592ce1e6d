"""Per-call metrics as plain numbers, turned into metric families only when /metrics is scraped.

prometheus_client's `Counter.inc` and `Histogram.observe` take a mutex each and walk the bucket
bounds in Python; a call made about eight of them. Here a call adds to floats in dicts keyed by
label tuples (a histogram bucket found by bisect on precomputed bounds), on the event-loop
thread, and `CallCollector` renders the same families at scrape time: the same names, types,
help, labels, buckets and `_total` / `_created` / `_bucket` / `_count` / `_sum` series, in the
order prometheus_client renders them.

A scrape runs in a worker thread (`admin.metrics` hands `generate_latest` to `asyncio.to_thread`)
while the loop thread keeps counting, so the collector reads a snapshot under a sequence count
instead of a lock: the writer makes `Tallies.seq` odd before a call's updates and even after
them; the reader copies everything and keeps the copy only if `seq` was even and did not move,
otherwise it sleeps a moment (handing the GIL back, so the call's updates finish) and copies
again. One scrape therefore sees every family at the same call boundary (a call counted in
`requests_total` is in the latency histograms too), and a call pays two integer additions for it.
This relies on the GIL: the dict and list copies are single C calls, and only the loop thread
bumps `seq`. Scrape-time zero series (`Tallies.touch`) may be written from the scrape thread;
they only ever insert with `setdefault`, so they race with nothing.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Final

from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import INF, floatToGoString

__all__ = ["CallCollector", "CounterTally", "GaugeTally", "HistogramTally", "Tallies"]

Labels = tuple[str, ...]
_TRIES: Final = 50  # a call's updates take microseconds: a scrape retries a handful at worst
_PAUSE: Final = 0.0002  # seconds; long enough for the loop thread to take the GIL and finish
_go_float: Callable[[float], str] = floatToGoString  # how prometheus_client writes an `le`


def _use_created() -> bool:
    """prometheus_client's own switch (PROMETHEUS_DISABLE_CREATED_SERIES, disable_created_
    metrics()), read at scrape time as its metrics read it, so `_created` follows it alike."""
    return bool(getattr(prometheus_metrics, "_use_created", True))


class CounterTally:
    """A counter family: one float per label tuple, and when each series was born."""

    __slots__ = ("created", "documentation", "labelnames", "name", "values")

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.values: dict[Labels, float] = {}
        self.created: dict[Labels, float] = {}
        if not self.labelnames:
            self.touch(())  # like prometheus_client: an unlabelled counter exists from 0

    def touch(self, labels: Labels) -> float:
        """The series' value, exported from 0 if it was not yet (born before its value is)."""
        self.created.setdefault(labels, time.time())
        return self.values.setdefault(labels, 0.0)

    def inc(self, labels: Labels) -> None:
        value = self.values.get(labels)
        if value is None:
            value = self.touch(labels)
        self.values[labels] = value + 1.0

    def copy(self) -> Callable[[], Metric]:
        """The family as it is now, rendered when called."""
        return partial(self._family, self.values.copy(), self.created.copy())

    def _family(self, values: dict[Labels, float], created: dict[Labels, float]) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        use_created = _use_created()
        for labels, value in values.items():
            family.add_metric(labels, value, created.get(labels) if use_created else None)
        return family


class HistogramTally:
    """A histogram family: per label tuple, one count per bucket (not yet cumulative) and the
    sum last, in one list, so an observation is two list additions."""

    __slots__ = ("_bounds", "_les", "created", "documentation", "labelnames", "name", "rows")

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds) or not bounds:
            raise ValueError("buckets must be given in increasing order")
        if bounds[-1] != INF:
            bounds.append(INF)
        self._bounds = tuple(bounds)
        self._les = tuple(_go_float(b) for b in bounds)
        self.rows: dict[Labels, list[float]] = {}
        self.created: dict[Labels, float] = {}
        if not self.labelnames:
            self.touch(())

    def touch(self, labels: Labels) -> list[float]:
        self.created.setdefault(labels, time.time())
        return self.rows.setdefault(labels, [0.0] * (len(self._bounds) + 1))

    def observe(self, labels: Labels, amount: float) -> None:
        """Into the first bucket whose bound is >= amount, as prometheus_client counts it."""
        row = self.rows.get(labels)
        if row is None:
            row = self.touch(labels)
        row[bisect_left(self._bounds, amount)] += 1.0
        row[-1] += amount

    def copy(self) -> Callable[[], Metric]:
        rows = self.rows.copy()  # one C call: the loop thread may add a series meanwhile
        copied = {labels: row[:] for labels, row in rows.items()}
        return partial(self._family, copied, self.created.copy())

    def _family(self, rows: dict[Labels, list[float]], created: dict[Labels, float]) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        use_created = _use_created()
        for labels, row in rows.items():
            buckets, total = [], 0.0
            for le, count in zip(self._les, row, strict=False):  # the row's last item is the sum
                total += count
                buckets.append((le, total))
            family.add_metric(labels, buckets, row[-1])
            if use_created and labels in created:
                family.add_sample(
                    self.name + "_created", dict(zip(self.labelnames, labels, strict=True)),
                    created[labels],
                )  # fmt: skip
        return family


class GaugeTally:
    """An unlabelled gauge with `inc` / `dec` like prometheus_client's, without its lock."""

    __slots__ = ("documentation", "name", "value")

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation, self.value = name, documentation, 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def copy(self) -> Callable[[], Metric]:
        return partial(GaugeMetricFamily, self.name, self.documentation, value=self.value)


Tally = CounterTally | HistogramTally | GaugeTally


class Tallies:
    """The families a collector exports, in order, and the writer's sequence count."""

    def __init__(self, tallies: Sequence[Tally]) -> None:
        self.tallies = tuple(tallies)
        #: Odd while the loop thread is in the middle of a call's updates (see the module doc).
        self.seq = 0

    def snapshot(self) -> list[Callable[[], Metric]]:
        """A copy of every tally taken between two calls' updates."""
        copies: list[Callable[[], Metric]] = []
        for _ in range(_TRIES):
            seq = self.seq
            copies = [tally.copy() for tally in self.tallies]
            if not seq & 1 and self.seq == seq:
                break
            time.sleep(_PAUSE)
        return copies  # after _TRIES busy reads: the last copy, each family whole on its own


class CallCollector(Collector):
    """The per-call families, rendered from one snapshot of `Tallies` per scrape."""

    def __init__(self, tallies: Tallies) -> None:
        self._tallies = tallies

    def describe(self) -> Iterator[Metric]:
        """Empty families, so the registry reserves these names (and refuses a duplicate) as it
        did for prometheus_client's own metrics."""
        for tally in self._tallies.tallies:
            if isinstance(tally, CounterTally):
                yield CounterMetricFamily(tally.name, tally.documentation, labels=tally.labelnames)
            elif isinstance(tally, HistogramTally):
                yield HistogramMetricFamily(
                    tally.name, tally.documentation, labels=tally.labelnames
                )
            else:
                yield GaugeMetricFamily(tally.name, tally.documentation)

    def collect(self) -> Iterator[Metric]:
        for render in self._tallies.snapshot():
            yield render()
