"""`agentconsole rollouts ...`: guarded rollout plans and the controller that runs them.

``rollouts run`` is the long-running controller (docs/rollouts.md). The plan commands are
also reachable as ``agentconsole flags plan NAME ...`` (the spelling operators look for
next to the other flag commands); both parsers are built here, once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from agentconsole.cli import dispatch
from agentconsole.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Context,
    add_change_options,
    add_output_options,
    clean,
    emit,
    fail,
    parse_duration,
    table,
)
from agentconsole.control import diagnostics
from agentconsole.control.errors import InvalidValue

VERBS = ("rollout.start", "rollout.pause", "rollout.resume", "rollout.advance", "rollout.abort")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rollouts", help="guarded rollout plans and their controller")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser(
        "run",
        help="the rollout controller: judge every running plan each interval (long-running)",
        description="Evaluates every running plan each interval and advances, pauses or rolls "
        "back through the same operations as an operator. Run several for availability: one "
        "holds a lease in Redis and acts, the others stand by.",
    )
    p.add_argument("--interval", type=parse_duration, help="seconds between evaluations")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.set_defaults(func=run_controller)

    p = sub.add_parser("status", help="every plan, the lease holder and its last evaluation")
    add_output_options(p)
    p.set_defaults(func=status)

    add_plan_parser(sub, "plan")
    for name in VERBS:
        dispatch.add(sub, name)


def add_plan_parser(sub: Any, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="put a flag under a guarded rollout plan",
        description="Create a rollout plan for a flag (docs/rollouts.md), from options or "
        "from a YAML file (--file). --start starts it at once.",
    )
    p.add_argument("name", nargs="?", help="the flag (or `flag:` in the YAML file)")
    p.add_argument("--file", help="the plan in YAML (keys: flag, steps, hold, window, guards...)")
    p.add_argument("--steps", help="percentages, rising to 100 (default 1,5,25,50,100)")
    p.add_argument("--hold", help="time each step must stay green before the next (e.g. 10m)")
    p.add_argument("--window", help="longest history a guard reads (default 5m)")
    p.add_argument(
        "--guard",
        action="append",
        metavar="METRIC:LIMIT",
        help="e.g. error_rate:+0.5pt, p99:+20%%, success_rate:-1pt, cost_per_run:+10%% "
        "(repeat for several)",
    )
    p.add_argument("--min-runs", type=int, help="runs needed on each side before a verdict")
    p.add_argument("--confidence", type=float, help="of the rate tests (default 0.95)")
    p.add_argument(
        "--on-regression",
        choices=("pause", "rollback", "last_good"),
        help="what a red guard does (default rollback to 0 %%)",
    )
    p.add_argument("--start", action="store_true", help="start the plan right away")
    add_change_options(p)
    add_output_options(p)
    p.set_defaults(func=create_plan, operations=("rollout.create",))
    return p


def plan_dict(flag: Any, plan: Any) -> dict[str, Any]:
    doc = plan.to_doc()
    doc["flag"] = flag if isinstance(flag, str) else flag.name
    doc["current"] = f"{plan.current_bp / 100:g}%"
    doc["hold_left_seconds"] = round(plan.hold_left(), 1)
    return doc


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    spec: dict[str, Any] = {}
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{args.file}: cannot read the plan: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.file}: a plan is a mapping (flag, steps, hold, guards...)")
        spec.update(loaded)
    for key, value in (
        ("steps", args.steps),
        ("hold", args.hold),
        ("window", args.window),
        ("guards", args.guard),
        ("min_runs", args.min_runs),
        ("confidence", args.confidence),
        ("on_regression", args.on_regression),
    ):
        if value is not None:
            spec[key] = value
    if args.name:
        spec["flag"] = args.name
    return spec


async def create_plan(args: argparse.Namespace, ctx: Context) -> int:
    """Options and/or a YAML file -> the ``rollout.create`` operation (then ``rollout.start``)."""
    from agentconsole.control import operations as ops
    from agentconsole.control.rollouts import SPEC_KEYS

    try:
        spec = _spec(args)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    if not spec.get("flag"):
        return fail("give the flag: agentconsole flags plan NAME ... (or flag: in --file)")
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        return fail(f"unknown plan keys: {', '.join(sorted(map(str, unknown)))}", EXIT_USAGE)
    raw = {k: v for k, v in spec.items() if v is not None}
    raw.setdefault("steps", "1,5,25,50,100")
    raw.setdefault("hold", "10m")
    if isinstance(raw.get("guards"), str):
        raw["guards"] = [raw["guards"]]
    if not raw.get("guards"):
        return fail("a plan needs at least one guard, e.g. --guard error_rate:+0.5pt", EXIT_USAGE)
    create = ops.get("rollout.create")
    if not args.start:
        return await dispatch.run(args, ctx, create, raw)
    try:
        call = create.call(raw, reason=args.reason)
    except InvalidValue as exc:
        return fail(str(exc), EXIT_USAGE)
    created = await create.run(await ctx.plane(), call)
    if not getattr(args, "json", False):
        print(clean(created.text, 2000))  # with --json: one document, the started plan
    return await dispatch.run(args, ctx, ops.get("rollout.start"), {"flag": call.args["flag"]})


async def status(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control.controller import read_status
    from agentconsole.control.rollouts import Rollouts

    plane = await ctx.plane()
    plans, problems = await Rollouts(plane).list_with_problems()
    for problem in problems:
        print(f"agentconsole: warning: {clean(problem, 300)}", file=sys.stderr)
    seen = await read_status(plane)
    holder, ttl = await diagnostics.rollout_controller(plane)
    now = time.time()
    data = {
        "lease": {"holder": holder, "expires_in": ttl},
        "problems": problems,
        "plans": [{**plan_dict(f, p), "last_evaluation": seen.get(f.name)} for f, p in plans],
    }

    def human() -> str:
        head = (
            f"controller: {clean(holder)} (lease {ttl:.1f} s left)"
            if holder
            else "controller: none running (no lease holder): plans do not advance by themselves"
        )
        rows = []
        for flag, plan in plans:
            last = seen.get(flag.name) or {}
            when = f"{now - last['at']:.0f}s ago" if last.get("at") else "never"
            rows.append(
                (
                    flag.name,
                    plan.state,
                    f"{plan.current_bp / 100:g}%",
                    f"{plan.hold_left(now):.0f}s" if plan.state == "running" else "-",
                    when,
                    clean(last.get("message", "-"), 90),
                )
            )
        if not rows:
            return head + "\nno rollout plans"
        return head + "\n" + table(("flag", "state", "at", "hold", "judged", "last"), rows)

    emit(args, data, human)
    return EXIT_OK


async def run_controller(args: argparse.Namespace, ctx: Context) -> int:
    from agentconsole.control import ControlPlane, Operator
    from agentconsole.control.controller import Controller
    from agentconsole.metrics.client import PromQL
    from agentconsole.metrics.guards import GuardEvaluator

    settings = ctx.settings
    operator = Operator(settings.rollouts.actor, settings.role)
    if not operator.can("rollout.advance"):
        return fail(
            f"the controller acts as {operator.name} with role {operator.role}: it needs "
            "the responder role (operator.role in the config)",
            EXIT_USAGE,
        )
    plane = ControlPlane.from_settings(settings, operator)
    await plane.check_schema()
    promql = PromQL(settings.prometheus)
    evaluator = GuardEvaluator(promql, settings.prometheus.timeout)

    def say(text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        print(f"{stamp} {clean(text, 400)}", flush=True)

    controller = Controller(plane, evaluator, interval=args.interval, say=say)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    say(
        f"rollout controller {controller.lease.holder} on {settings.redis.url} prefix "
        f"{settings.redis.prefix}, Prometheus {settings.prometheus.url}, every "
        f"{controller.interval:g} s"
    )
    try:
        await controller.run(stop)
    finally:
        promql.close()
        await plane.close()
    print("rollout controller stopped", file=sys.stderr)
    return EXIT_OK
