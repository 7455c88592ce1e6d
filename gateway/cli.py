"""The `oma-gateway` command."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .config_checks import every_warning
from .secrets import digest, new_api_key
from .settings import CallerKey, HostPort, Settings
from .validation import ConfigError, load_settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oma-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oma-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="config file (default: embedded demo)")
    serve.add_argument("--listen", type=_host_port, help="callers' HOST:PORT (overrides config)")
    serve.add_argument("--admin-listen", type=_host_port, help="admin HOST:PORT (overrides)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N|auto",
        help="processes sharing the port (default auto: the usable cores with a shared store, "
        "1 with memory://)",
    )
    serve.add_argument(
        "--check",
        action="store_true",
        help="validate the config and options as serve would, then exit (0 valid, 2 invalid)",
    )
    # Internal: how the supervisor starts a worker (admin app on this unix socket).
    serve.add_argument("--worker-admin", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--no-secrets",
        action="store_true",
        help="check secret references without reading them (CI without the real secrets)",
    )
    check.set_defaults(run=_check_config)

    config = commands.add_parser("config", help="inspect a config file")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    show = config_commands.add_parser(
        "show", help="print the effective config: defaults filled, secrets masked"
    )
    show.add_argument("file", type=Path)
    show.set_defaults(run=_config_show)

    keys = commands.add_parser("keys", help="API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("new", help="print a fresh key and its digest").set_defaults(
        run=_keys_new
    )
    key_commands.add_parser(
        "digest", help="read a key on stdin, print its sha256: digest and key_id"
    ).set_defaults(run=_keys_digest)
    listing = key_commands.add_parser(
        "list", help="one line per key in a config: caller, key_id, expiry, expired or not"
    )
    listing.add_argument("file", type=Path)
    listing.set_defaults(run=_keys_list)

    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    from .audit.cli import add_commands as add_audit_commands

    add_audit_commands(audit_commands)

    from .sandbox.cli import add_arguments, run

    sandbox = commands.add_parser("sandbox", help="run the bundled OMA sandbox")
    add_arguments(sandbox)
    sandbox.set_defaults(run=run)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .demo import demo_banner, demo_settings
    from .workers import default_workers, worker_problems

    banner = None
    try:
        if args.config is None:
            settings, key = demo_settings()
            banner = demo_banner(_addresses(settings, args), key)
        else:
            settings = load_settings(args.config)
        settings = _addresses(settings, args)
        workers = args.workers or default_workers(settings)
        if problems := worker_problems(settings, workers):
            raise ConfigError(problems)
    except ConfigError as exc:
        _print_problems(args.config or Path("(embedded defaults)"), exc)
        return 2
    return _serve_with(settings, args, workers, banner)


def _serve_with(
    settings: Settings, args: argparse.Namespace, workers: int, banner: str | None
) -> int:
    """Exit 2 for anything wrong before listening (config, options, ports), else as served."""
    from .serve import Seat, run
    from .workers import Supervisor, port_problem

    if args.check:
        print(f"{args.config or '(embedded defaults)'}: valid, serves with {workers} worker(s)")
        return 0
    if args.worker_admin:
        return run(settings, args.config, seat=Seat(workers, args.worker_admin))
    if workers == 1:  # the plain path: no supervisor, one process, one event loop
        return run(settings, args.config, banner)
    if problem := port_problem(settings):
        print(problem, file=sys.stderr)
        return 2
    assert args.config is not None  # worker_problems refuses the demo's in-process sandbox
    return Supervisor(settings, args.config, workers).run()


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1 or auto, got {text!r}")
    return int(text)


def _addresses(settings: Settings, args: argparse.Namespace) -> Settings:
    """Command-line listen addresses win over the config's (tests, quick local runs)."""
    listen = args.listen or settings.listen
    admin = args.admin_listen or settings.admin_listen
    if listen == admin:
        raise ConfigError(["admin_listen: must differ from listen"])
    return dataclasses.replace(settings, listen=listen, admin_listen=admin)


def _host_port(text: str) -> HostPort:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return HostPort(host.strip("[]"), int(port))


def _loaded(file: Path, read_secrets: bool) -> Settings | None:
    """The config of a command that reads one, or None once its problems are printed."""
    try:
        return load_settings(file, read_secrets=read_secrets)
    except ConfigError as exc:
        _print_problems(file, exc)
        return None


def _check_config(args: argparse.Namespace) -> int:
    settings = _loaded(args.file, read_secrets=not args.no_secrets)
    if settings is None:
        return 1
    warnings = every_warning(settings)
    _print_warnings(warnings)  # all of them, one form, on stderr: stdout is the verdict
    unread = " (secrets not read)" if args.no_secrets else ""
    print(
        f"{args.file}: valid{unread} ({len(settings.callers)} callers,"
        f" {len(settings.upstreams)} upstreams, {len(warnings)} warnings)"
    )
    return 0


def _config_show(args: argparse.Namespace) -> int:
    """Secrets are never read for this: they would only be masked."""
    from .config_show import render

    settings = _loaded(args.file, read_secrets=False)
    if settings is None:
        return 1
    _print_warnings(settings.warnings)
    print(render(settings), end="")
    return 0


def _keys_new(args: argparse.Namespace) -> int:
    key = new_api_key()
    print(key)
    print(digest(key))
    return 0


def _keys_digest(args: argparse.Namespace) -> int:
    key = sys.stdin.readline().strip()
    if not key:
        print("keys digest: expected the key on stdin", file=sys.stderr)
        return 1
    key_digest = digest(key)
    print(key_digest)
    print(f"key_id {CallerKey(key_digest).key_id}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    settings = _loaded(args.file, read_secrets=False)
    if settings is None:
        return 1
    now = datetime.now(UTC)
    for caller in settings.callers.values():
        for key in caller.keys:
            print(f"{caller.name}\t{key.key_id}\t{_expiry(key, now)}")
    return 0


def _expiry(key: CallerKey, now: datetime) -> str:
    if key.expires is None:
        return "never\tvalid"
    return f"{key.expires.isoformat()}\t{'expired' if key.expires <= now else 'valid'}"


def _print_problems(path: Path, exc: ConfigError) -> None:
    print(f"{path}: invalid config, {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    _print_warnings(exc.warnings)


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
