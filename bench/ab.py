"""A/B of one change on the hot path: the gateway at another revision beside this tree's.

    python -m bench.ab REV [--rounds 5] [--duration 8] [--store memory|redis]

REV (a commit, `HEAD~1`, a branch) is checked out into a temporary git worktree and its `gateway`
package put first on the gateway process's PYTHONPATH; the other gateway runs this tree's code.
Both serve the main table's setup (constant nginx upstream and wrk on CPU 1, the gateway alone on
CPU 0, audit file on) in alternating rounds; printed: median req/s, p50/p99 and CPU µs per call
of each, and B/A. The figure a commit message quotes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare import LOAD_CPU, Options, Systems, alternate, header, ratio
from bench.procs import REPO, Children, raise_nofile


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """`rev` in a temporary worktree (detached), removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="oma-ab-")) / "tree"
    git = ["git", "-C", str(REPO)]
    subprocess.run([*git, "worktree", "add", "-q", "--detach", str(where), rev], check=True)  # noqa: S603
    try:
        yield where
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(where)], check=False)  # noqa: S603
        shutil.rmtree(where.parent, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("rev", help="the A side: a git revision (B is this working tree)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--store", choices=["memory", "redis"], default="memory")
    a = p.parse_args(argv)
    opts = Options(a.rounds, a.duration, 1.0, a.connections, "wrk")
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="oma-ab-run-"))
    with checkout(a.rev) as tree, Children(tmp) as kids:
        systems = Systems(kids, tmp)
        before = systems.gateway(
            f"A: {a.rev}", [systems.setup(a.store)], env={"PYTHONPATH": str(tree)}
        )
        after = systems.gateway("B: working tree", [systems.setup(a.store)])
        alternate([before, after], opts, LOAD_CPU, "A/B")
        lines = header(
            f"A/B, gateway {a.store}://, audit file; {opts.rounds} rounds x {opts.duration:g} s"
        )
        lines += [before.line(), after.line(), ratio(after, before)]
    shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
