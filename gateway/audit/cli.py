"""The `oma-gateway audit` sub-commands: keygen, verify, search.

Exit codes: 0 done (verify: intact), 1 a problem found (verify: the first one), 2 the command
could not run (a file unreadable, a bad argument).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["add_commands"]


def add_commands(audit_commands: Any) -> None:
    """Add keygen, verify and search to the `audit` sub-parser set."""
    keygen = audit_commands.add_parser(
        "keygen", help="write a new Ed25519 checkpoint signing key (0600), print its public key"
    )
    keygen.add_argument("--out", type=Path, required=True, metavar="FILE")
    keygen.set_defaults(run=_keygen)

    verify = audit_commands.add_parser(
        "verify", help="check audit files' chain and signatures (several: oldest rotated first)"
    )
    verify.add_argument("files", type=Path, nargs="+", metavar="FILE")
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM_FILE",
        help="check signatures; repeat for a trail signed across a key rotation",
    )
    verify.add_argument("--expect-head", metavar="HASH", help="a head the chain must reach")
    verify.set_defaults(run=_verify)

    search = audit_commands.add_parser("search", help="print matching audit records")
    search.add_argument("files", type=Path, nargs="+", metavar="FILE")
    for name in ("caller", "method", "target", "since", "until", "result"):
        search.add_argument(f"--{name}")
    search.set_defaults(run=_search)


def _keygen(args: argparse.Namespace) -> int:
    from .sign import keygen

    try:
        public = keygen(args.out)
    except OSError as exc:
        print(f"audit keygen: {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    sys.stdout.write(public.decode())
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verify import verify_files

    public = _public_keys(args.public_key)
    if isinstance(public, str):
        print(f"audit verify: {public}", file=sys.stderr)
        return 2
    try:
        state, broken = verify_files(args.files, public, args.expect_head)
    except OSError as exc:  # unreadable, or a .gz file that is not gzip (BadGzipFile: no name)
        print(
            f"audit verify: {exc.filename or 'a .gz file'}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    except EOFError as exc:  # a .gz file cut short
        print(f"audit verify: a .gz file: {exc}", file=sys.stderr)
        return 2
    if broken is not None:
        print(f"broken at line {broken.line}: {broken}", file=sys.stderr)
        return 1
    signed = f", {state.checkpoints} checkpoints verified" if public else ""
    torn = f", {state.torn_bytes} torn bytes recovered" if state.torn_bytes else ""
    print(
        f"intact: {state.lines} lines, {state.segments} segments{signed}{torn}, "
        f"last hash {state.last_hash}"
    )
    return 0


def _public_keys(paths: list[Path]) -> list[Ed25519PublicKey] | str:
    """The --public-key files' keys, or what is wrong with the first that cannot be used."""
    from .sign import load_public_key

    keys: list[Ed25519PublicKey] = []
    for path in paths:
        try:
            keys.append(load_public_key(path.read_bytes()))
        except OSError as exc:
            return f"{path}: {exc.strerror}"
        except ValueError as exc:
            return f"{path}: {exc}"
    return keys


def _search(args: argparse.Namespace) -> int:
    from .search import Query, instant, search

    try:
        since = None if args.since is None else instant(args.since)
        until = None if args.until is None else instant(args.until)
    except ValueError as exc:
        print(f"audit search: --since/--until: {exc}", file=sys.stderr)
        return 2
    query = Query(args.caller, args.method, args.target, since, until, args.result)
    out = sys.stdout.buffer
    try:
        for line in search(args.files, query):
            out.write(line)
    except OSError as exc:
        print(f"audit search: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    out.flush()
    return 0
