"""`oma-gateway sandbox`: run the sandbox as a server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from gateway.sandbox.clock import ManualClock
from gateway.sandbox.faults import Fault
from gateway.sandbox.roles import ROLE_KINDS, parse_kind
from gateway.sandbox.sandbox import Sandbox
from gateway.sandbox.server import serving


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        required=True,
        type=_host_port,
        metavar="HOST:PORT",
        help="address to listen on; port 0 picks a free one",
    )
    parser.add_argument("--user", default="admin@demo.adm", help="the company admin's login")
    parser.add_argument(
        "--password",
        default=os.environ.get("SANDBOX_PASSWORD", "demo-password"),
        help="the company admin's password (default: $SANDBOX_PASSWORD or demo-password)",
    )
    parser.add_argument(
        "--role",
        default="company",
        choices=ROLE_KINDS,
        help="the OMA admin role of that login (default: company); see gateway/sandbox/roles.py",
    )
    parser.add_argument(
        "--manual-clock", action="store_true", help="freeze time; move it with POST /_sandbox/clock"
    )
    faults = parser.add_argument_group("faults (also settable at POST /_sandbox/faults)")
    faults.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="delay every answer"
    )
    faults.add_argument("--fail-500", action="store_true", help="answer HTTP 500")
    faults.add_argument("--non-json", action="store_true", help="answer 200 with an HTML body")
    faults.add_argument("--hang", action="store_true", help="never answer")
    faults.add_argument(
        "--reset-connections", action="store_true", help="drop the connection without answering"
    )
    faults.add_argument(
        "--reject-logins", action="store_true", help="answer error 1 to every password login"
    )
    faults.add_argument(
        "--fault-methods",
        type=_names,
        metavar="M1,M2",
        help="limit the faults above to these methods",
    )
    faults.add_argument(
        "--fault-times",
        type=int,
        metavar="N",
        help="limit each fault above to its first N occurrences",
    )


def run(args: argparse.Namespace) -> int:
    sandbox = build_sandbox(args)
    host, port = args.listen
    asyncio.run(_serve(sandbox, host, port))
    return 0


def build_sandbox(args: argparse.Namespace) -> Sandbox:
    clock = ManualClock() if args.manual_clock else None
    sandbox = Sandbox(
        user=args.user, password=args.password, clock=clock, role=parse_kind(args.role)
    )
    switches = {
        "http_500": args.fail_500,
        "non_json": args.non_json,
        "hang": args.hang,
        "reset": args.reset_connections,
        "reject_logins": args.reject_logins,
        "latency": args.latency > 0,
    }
    for name, on in switches.items():
        if on:
            fault = Fault(methods=args.fault_methods, times=args.fault_times, seconds=args.latency)
            setattr(sandbox.faults, name, fault)
    return sandbox


async def _serve(sandbox: Sandbox, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serving(sandbox, host, port) as url:
        # Printed only once the socket listens, with the real port when 0 was asked for.
        admin = f"admin {sandbox.user}, role {sandbox.role}"
        print(f"OMA sandbox listening on {url}/api ({admin})", flush=True)
        await stop.wait()


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _names(value: str) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split(",") if name.strip())
