"""`agentconsole simulate`: a fleet of simulated agents on the SDK, with /metrics.

Runs until Ctrl-C (or ``--seconds``), printing a one-line summary every few seconds.
Agents obey the console: kill one, a tenant or everything, trip a breaker, flip a flag.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from agentconsole.cli.common import EXIT_OK, EXIT_USAGE, Context, fail

# The simulator's scenarios, here so that `--help` does not import the simulator.
SCENARIOS = ("steady", "provider-outage", "latency-spike", "runaway", "cost-explosion", "story")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run a simulated agent fleet against the control plane",
        description="Run N simulated agents through the agent SDK: fake LLM, tools, "
        "scenarios. Exposes Prometheus metrics with --metrics-port.",
    )
    p.add_argument("--agents", type=int, default=100, help="number of agents (default 100)")
    p.add_argument(
        "--scenario",
        default="steady",
        choices=SCENARIOS,
        help="traffic scenario; 'story' cycles through all of them (default steady)",
    )
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port (127.0.0.1)")
    p.add_argument("--metrics-addr", default="127.0.0.1", help="address for /metrics")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--summary-every", type=float, default=5.0, help="seconds between summary lines")
    p.add_argument("--seed", type=int, help="random seed for a repeatable run")
    p.add_argument("--id-prefix", default="sim", help="agent ids are <prefix>-<n> (default sim)")
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="SDK JSON logs on stderr (default warning: kills, breakers, budgets)",
    )
    p.set_defaults(func=simulate)


async def simulate(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.agent import configure_json_logging
    from agentconsole.sim.fleet import Fleet

    if args.agents < 1:
        return fail("--agents must be at least 1", EXIT_USAGE)
    if args.seconds is not None and args.seconds <= 0:
        return fail("--seconds must be positive", EXIT_USAGE)
    configure_json_logging(getattr(logging, args.log_level.upper()), sys.stderr)
    fleet = Fleet(
        ctx.settings, args.agents, args.scenario, seed=args.seed, id_prefix=args.id_prefix
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.metrics_port is not None:
        try:
            _serve(fleet, args.metrics_port, args.metrics_addr)
        except OSError as exc:
            return fail(
                f"cannot serve metrics on {args.metrics_addr}:{args.metrics_port}: "
                f"{exc.strerror or exc}"
            )
    print(
        f"simulating {args.agents} agents, scenario {args.scenario}, control plane "
        f"{ctx.settings.redis.url} prefix {ctx.settings.redis.prefix}"
        + (f", metrics on :{args.metrics_port}" if args.metrics_port else ""),
        flush=True,
    )

    def out(line: str) -> None:
        print(line, flush=True)

    await fleet.run(stop, seconds=args.seconds, summary_every=args.summary_every, out=out)
    return EXIT_OK


def _serve(fleet: Any, port: int, addr: str) -> None:
    """Open /metrics before agents start, so a supervisor waiting for the port sees it."""
    from prometheus_client import REGISTRY, start_http_server

    start_http_server(port, addr=addr, registry=fleet.registry or REGISTRY)
