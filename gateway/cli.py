"""The `oma-gateway` command."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .secrets import digest, new_api_key
from .settings import HostPort, Settings
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
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_check_config)

    keys = commands.add_parser("keys", help="API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("new", help="print a fresh key and its digest").set_defaults(
        run=_keys_new
    )

    from .sandbox.cli import add_arguments, run

    sandbox = commands.add_parser("sandbox", help="run the bundled OMA sandbox")
    add_arguments(sandbox)
    sandbox.set_defaults(run=run)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .demo import demo_banner, demo_settings
    from .serve import run

    banner = None
    try:
        if args.config is None:
            settings, key = demo_settings()
            banner = demo_banner(_addresses(settings, args), key)
        else:
            settings = load_settings(args.config)
        settings = _addresses(settings, args)
    except ConfigError as exc:
        _print_problems(args.config or Path("(embedded defaults)"), exc)
        return 2
    return run(settings, args.config, banner)


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


def _check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.file)
    except ConfigError as exc:
        _print_problems(args.file, exc)
        return 1
    print(
        f"{args.file}: valid ({len(settings.callers)} callers, {len(settings.upstreams)} upstreams)"
    )
    return 0


def _keys_new(args: argparse.Namespace) -> int:
    key = new_api_key()
    print(key)
    print(digest(key))
    return 0


def _print_problems(path: Path, exc: ConfigError) -> None:
    print(f"{path}: invalid config, {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
