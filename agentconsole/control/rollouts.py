"""Guarded rollout plans: a flag steps through percentages, each step held while guards watch.

A plan lives inside its flag's document (``flag.plan``), so every plan change and the flag
change it causes are one atomic, audited ``ControlPlane.apply``: advancing from 5 % to 25 %
writes the new rollout and the plan's new step in the same step as its audit entry, and an
agent's snapshot learns in the same event that the flag is under a plan (the SDK labels its
run metrics by variant for such flags only). The controller (``control/controller.py``)
and an operator use the same methods here; only the actor differs.
"""

from __future__ import annotations

import builtins
import itertools
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole import text
from agentconsole.control.bucketing import FULL, format_bp
from agentconsole.control.errors import CorruptValue, InvalidValue, NotFound

if TYPE_CHECKING:
    from agentconsole.control.flags import Flag
    from agentconsole.control.plane import ControlPlane

# What a guard can compare, the direction that is bad, and how a limit reads.
METRICS: dict[str, dict[str, Any]] = {
    "error_rate": {"bad": +1, "rate": True, "label": "error rate"},
    "success_rate": {"bad": -1, "rate": True, "label": "success rate"},
    "p99_latency": {"bad": +1, "rate": False, "label": "p99 run latency", "unit": "s"},
    "cost_per_run": {"bad": +1, "rate": False, "label": "cost per run", "unit": "$"},
    "tokens_per_run": {"bad": +1, "rate": False, "label": "tokens per run", "unit": ""},
}
ALIASES = {"p99": "p99_latency", "errors": "error_rate", "success": "success_rate"}
ON_REGRESSION = ("pause", "rollback", "last_good")
ACTIVE = ("created", "running", "paused")
FINISHED = ("completed", "rolled_back", "aborted")
DEFAULT_STEPS = (100, 500, 2500, 5000, FULL)
HISTORY_LIMIT = 40
_GUARD_RE = re.compile(r"^\s*([a-z0-9_]+)\s*[:<>=]*\s*([+-]?)\s*([0-9]*\.?[0-9]+)\s*(pt|%)?\s*$")


@dataclass(frozen=True)
class Guard:
    """A limit on how much worse the canary may be than the control, e.g. ``p99:+20%``.

    ``limit`` is a magnitude in the metric's bad direction: a fraction for rates in points
    (0.005 = 0.5 pt), the metric's own unit when absolute, a fraction of the control's value
    when ``relative``.
    """

    metric: str
    limit: float
    relative: bool = False

    @property
    def bad(self) -> int:
        return int(METRICS[self.metric]["bad"])

    @property
    def is_rate(self) -> bool:
        return bool(METRICS[self.metric]["rate"])

    @property
    def label(self) -> str:
        return str(METRICS[self.metric]["label"])

    def allowed_difference(self, control: float) -> float:
        """How far (in the bad direction) the canary may sit from ``control``."""
        return self.limit * abs(control) if self.relative else self.limit

    def text(self) -> str:
        sign = "+" if self.bad > 0 else "-"
        if self.relative:
            return f"{self.metric}:{sign}{_g(self.limit * 100)}%"
        if self.is_rate:
            return f"{self.metric}:{sign}{_g(self.limit * 100)}pt"
        return f"{self.metric}:{sign}{_g(self.limit)}"

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Guard:
        metric = str(doc["metric"])
        if metric not in METRICS:
            raise CorruptValue(f"unknown guard metric {metric!r}")
        return cls(metric, float(doc["limit"]), bool(doc.get("relative", False)))


def parse_guard(text: str) -> Guard:
    """``error_rate:+0.5pt``, ``p99:+20%``, ``success_rate:-1pt``, ``cost_per_run:+0.02``."""
    found = _GUARD_RE.match(str(text).lower())
    metric = ALIASES.get(found.group(1), found.group(1)) if found else ""
    if not found or metric not in METRICS:
        names = ", ".join(METRICS)
        raise InvalidValue(
            f"guard {text!r}: expected METRIC:LIMIT such as error_rate:+0.5pt or p99:+20% "
            f"(metrics: {names})"
        )
    sign, number, unit = found.group(2), float(found.group(3)), found.group(4)
    spec = METRICS[metric]
    if sign and (1 if sign == "+" else -1) != spec["bad"]:
        worse = "an increase (+)" if spec["bad"] > 0 else "a decrease (-)"
        raise InvalidValue(f"guard {text!r}: a worse {spec['label']} is {worse}")
    if unit == "pt" and not spec["rate"]:
        raise InvalidValue(f"guard {text!r}: points (pt) are for rates; use % or an absolute value")
    if spec["rate"] and unit is None:
        raise InvalidValue(f"guard {text!r}: say pt (percentage points) or % (relative)")
    if unit == "%":
        return Guard(metric, number / 100, relative=True)
    if unit == "pt":
        return Guard(metric, number / 100)
    return Guard(metric, number)


def parse_steps(given: str | list[Any] | tuple[Any, ...]) -> list[int]:
    """'1,5,25,50,100' -> basis points; strictly increasing, ending at 100 %."""
    items = list(given.split(",")) if isinstance(given, str) else list(given)
    try:
        steps = [text.percent(str(s).strip(), "step") for s in items if str(s).strip()]
    except text.Invalid as exc:
        raise InvalidValue(f"steps: {exc}") from None
    if not steps:
        raise InvalidValue("steps: give at least one percentage, e.g. 1,5,25,50,100")
    if any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] <= 0:
        raise InvalidValue("steps must rise strictly from above 0 %, e.g. 1,5,25,50,100")
    if steps[-1] != FULL:
        raise InvalidValue("the last step must be 100 % (a plan ends with everyone on)")
    return steps


@dataclass
class Plan:
    """A rollout plan and where it stands. ``step`` indexes ``steps_bp``; -1 = not started."""

    steps_bp: list[int] = field(default_factory=lambda: list(DEFAULT_STEPS))
    hold_seconds: float = 600.0
    guards: list[Guard] = field(default_factory=list)
    on_regression: str = "rollback"
    min_runs: int = 200
    confidence: float = 0.95
    window_seconds: float = 300.0
    state: str = "created"
    step: int = -1
    step_started_at: float = 0.0
    last_good: int = -1
    created_by: str = ""
    created_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] | None = None  # the last automatic decision's, in full

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def current_bp(self) -> int:
        return self.steps_bp[self.step] if self.step >= 0 else 0

    @property
    def last_good_bp(self) -> int:
        return self.steps_bp[self.last_good] if self.last_good >= 0 else 0

    def hold_left(self, now: float | None = None) -> float:
        if self.state != "running":
            return 0.0
        return max(0.0, self.step_started_at + self.hold_seconds - (now or time.time()))

    def steps_text(self) -> str:
        return ",".join(f"{b / 100:g}" for b in self.steps_bp)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["guards"] = [g.to_doc() for g in self.guards]
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Plan:
        try:
            plan = cls(
                steps_bp=[int(b) for b in doc["steps_bp"]],
                hold_seconds=float(doc.get("hold_seconds", 600.0)),
                guards=[Guard.from_doc(g) for g in doc.get("guards", [])],
                on_regression=str(doc.get("on_regression", "rollback")),
                min_runs=int(doc.get("min_runs", 200)),
                confidence=float(doc.get("confidence", 0.95)),
                window_seconds=float(doc.get("window_seconds", 300.0)),
                state=str(doc.get("state", "created")),
                step=int(doc.get("step", -1)),
                step_started_at=float(doc.get("step_started_at", 0.0)),
                last_good=int(doc.get("last_good", -1)),
                created_by=str(doc.get("created_by", "")),
                created_at=float(doc.get("created_at", 0.0)),
                history=[dict(h) for h in doc.get("history", []) if isinstance(h, dict)],
                evidence=doc.get("evidence") if isinstance(doc.get("evidence"), dict) else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptValue(f"rollout plan is malformed: {exc}") from None
        if not plan.steps_bp or not -1 <= plan.step < len(plan.steps_bp):
            raise CorruptValue("rollout plan is malformed: step outside its steps")
        return plan

    def check(self) -> Plan:
        """Refuse a plan no controller could run sensibly; returns itself."""
        parse_steps([f"{b / 100:g}" for b in self.steps_bp])
        if not (math.isfinite(self.hold_seconds) and self.hold_seconds > 0):
            raise InvalidValue("hold must be a positive duration, e.g. 10m")
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise InvalidValue("window must be a positive duration, e.g. 5m")
        if self.on_regression not in ON_REGRESSION:
            raise InvalidValue(f"on_regression must be one of {', '.join(ON_REGRESSION)}")
        if self.min_runs < 1:
            raise InvalidValue("min_runs must be at least 1 run on each side")
        if not 0.5 <= self.confidence < 1:
            raise InvalidValue("confidence must be between 0.5 and 0.999, e.g. 0.95")
        if not self.guards:
            raise InvalidValue("a plan needs at least one guard, e.g. --guard error_rate:+0.5pt")
        if len({g.metric for g in self.guards}) != len(self.guards):
            raise InvalidValue("one guard per metric")
        return self


SPEC_KEYS = ("flag", "steps", "hold", "window", "guards", "on_regression", "min_runs", "confidence")


def plan_from_spec(spec: dict[str, Any], flag: str | None = None) -> tuple[str, Plan]:
    """The YAML form (docs/rollouts.md) -> (flag, plan), read by the ``rollout.create``
    operation's own parameters: the same grammar as the CLI, the console and runbooks."""
    from agentconsole.control.operations import get

    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise InvalidValue(f"unknown plan keys: {', '.join(sorted(map(str, unknown)))}")
    raw = {k: spec[k] for k in SPEC_KEYS if k in spec and spec[k] is not None}
    raw.setdefault("steps", ",".join(str(b // 100) for b in DEFAULT_STEPS))
    raw.setdefault("hold", 600)
    if isinstance(raw.get("guards"), str):
        raw["guards"] = [raw["guards"]]
    if not raw.get("guards"):
        raise InvalidValue("a plan needs at least one guard, e.g. --guard error_rate:+0.5pt")
    raw["flag"] = flag or raw.get("flag")
    args = get("rollout.create").parse_args(raw)
    return args["flag"], plan_from_args(args)


def plan_from_args(args: dict[str, Any]) -> Plan:
    """A plan from the parsed arguments of ``rollout.create``; checked."""
    return Plan(
        steps_bp=list(args["steps"]),
        hold_seconds=float(args["hold"]),
        guards=list(args["guards"]),
        window_seconds=float(args.get("window", 300.0)),
        min_runs=int(args.get("min_runs", 200)),
        on_regression=str(args.get("on_regression", "rollback")),
        confidence=float(args.get("confidence", 0.95)),
    ).check()


def plan_to_spec(flag: str, plan: Plan) -> dict[str, Any]:
    """The YAML form of a plan's definition (not its progress), for export and editing."""
    return {
        "flag": flag,
        "steps": plan.steps_text(),
        "hold": text.format_duration(plan.hold_seconds),
        "window": text.format_duration(plan.window_seconds),
        "guards": [g.text() for g in plan.guards],
        "on_regression": plan.on_regression,
        "min_runs": plan.min_runs,
        "confidence": plan.confidence,
    }


def expected_state(plan: Plan) -> tuple[bool, int] | None:
    """(enabled, rollout_bp) the flag must show while the plan runs; None when not running."""
    if plan.state != "running":
        return None
    return True, plan.current_bp


def manual_change(flag: Flag, plan: Plan) -> str | None:
    """Why the flag no longer matches the running plan (someone changed it by hand), or None."""
    expected = expected_state(plan)
    if expected is None:
        return None
    enabled, bp = expected
    if flag.enabled != enabled:
        return f"{flag.changed_by or 'someone'} turned the flag off by hand"
    if flag.rollout_bp != bp:
        return (
            f"{flag.changed_by or 'someone'} set the rollout to {format_bp(flag.rollout_bp)} "
            f"by hand (plan step is {format_bp(bp)})"
        )
    return None


class Rollouts:
    """Plan operations on the control plane; each is one audited ``apply`` of the flag."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def get(self, name: str) -> tuple[Flag, Plan]:
        flag = await self.plane.flags.get(name)
        if not flag.plan:
            raise NotFound(f"flag {name!r} has no rollout plan")
        return flag, Plan.from_doc(flag.plan)

    async def list(self) -> list[tuple[Flag, Plan]]:
        """Every flag that has a readable plan (active or finished), by name."""
        plans, _problems = await self.list_with_problems()
        return plans

    async def list_with_problems(
        self,
    ) -> tuple[builtins.list[tuple[Flag, Plan]], builtins.list[str]]:
        """Plans by flag name, plus one line per plan (or flag) that could not be read: an
        unreadable plan is never run, and whoever lists plans is told."""
        flags, problems = await self.plane.flags.list()
        out = []
        for flag in flags:
            if flag.plan:
                try:
                    out.append((flag, Plan.from_doc(flag.plan)))
                except CorruptValue as exc:
                    problems.append(f"flag {flag.name}: {exc}; the controller leaves it alone")
        return out, problems

    async def create(self, name: str, plan: Plan, *, reason: str = "") -> Plan:
        """Attach a plan to a flag; replaces a finished plan, refuses over an active one."""
        self.plane.operator.require("rollout.create")
        plan.check()
        flag = await self.plane.flags.get(name)
        if flag.plan and Plan.from_doc(flag.plan).active:
            raise InvalidValue(
                f"flag {name!r} already has an active plan: abort it first "
                f"(agentconsole flags plan-abort {name} --reason ...)"
            )
        if flag.is_kill_switch:
            raise InvalidValue(f"{name!r} is a kill switch: kill switches are not rolled out")
        plan.state, plan.step, plan.last_good = "created", -1, -1
        plan.created_by, plan.created_at = self.plane.operator.name, time.time()
        plan.history = []
        plan.evidence = None
        _note(plan, "created", self.plane.operator.name, reason)
        return await self._write(flag, plan, "rollout.create", reason)

    async def start(self, name: str, *, reason: str = "") -> Plan:
        """Turn the flag on at the first step (the canary) and start the first hold."""
        flag, plan = await self.get(name)
        if plan.state != "created":
            raise InvalidValue(f"the plan of {name!r} is {plan.state}; only a new plan starts")
        plan.state, plan.step, plan.step_started_at = "running", 0, time.time()
        _note(plan, "started", self.plane.operator.name, reason)
        return await self._write(flag, plan, "rollout.start", reason, enabled=True)

    async def pause(
        self,
        name: str,
        *,
        reason: str = "",
        evidence: dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Plan:
        """Stop stepping; the flag stays where it is (nothing is undone)."""
        flag, plan = await self.get(name)
        if plan.state not in ("running", "created"):
            raise InvalidValue(f"the plan of {name!r} is {plan.state}, not running")
        plan.state = "paused"
        _note(plan, "paused", self.plane.operator.name, reason)
        plan.evidence = evidence
        return await self._write(flag, plan, "rollout.pause", reason, expected=expected_version)

    async def resume(self, name: str, *, reason: str = "") -> Plan:
        """Back to the current step's percentage, with a fresh hold."""
        flag, plan = await self.get(name)
        if plan.state != "paused":
            raise InvalidValue(f"the plan of {name!r} is {plan.state}, not paused")
        if plan.step < 0:
            plan.step = 0
        plan.state, plan.step_started_at = "running", time.time()
        _note(plan, "resumed", self.plane.operator.name, reason)
        return await self._write(flag, plan, "rollout.resume", reason, enabled=True)

    async def advance(
        self,
        name: str,
        *,
        reason: str = "",
        evidence: dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Plan:
        """Next step now (by hand, or by the controller once the hold passed green)."""
        flag, plan = await self.get(name)
        if plan.state not in ("running", "paused"):
            raise InvalidValue(f"the plan of {name!r} is {plan.state}; it cannot advance")
        plan.last_good = plan.step
        plan.step += 1
        plan.step_started_at = time.time()
        plan.state = "completed" if plan.step == len(plan.steps_bp) - 1 else "running"
        plan.evidence = evidence
        event = "completed" if plan.state == "completed" else "advanced"
        _note(plan, event, self.plane.operator.name, reason)
        return await self._write(
            flag, plan, "rollout.advance", reason, enabled=True, expected=expected_version
        )

    async def rollback(
        self,
        name: str,
        *,
        reason: str = "",
        evidence: dict[str, Any] | None = None,
        expected_version: int | None = None,
        to_last_good: bool = False,
    ) -> Plan:
        """Back to 0 % (plan rolled back), or to the last good step (plan paused there)."""
        flag, plan = await self.get(name)
        if plan.state not in ACTIVE:
            raise InvalidValue(f"the plan of {name!r} is {plan.state}; nothing to roll back")
        if to_last_good and plan.last_good >= 0:
            plan.step, plan.state = plan.last_good, "paused"
            bp = plan.current_bp
        else:
            plan.state, bp = "rolled_back", 0
        plan.evidence = evidence
        _note(plan, "rolled_back", self.plane.operator.name, reason, to_bp=bp)
        return await self._write(
            flag, plan, "rollout.rollback", reason, rollout_bp=bp, expected=expected_version
        )

    async def abort(self, name: str, *, reason: str = "") -> Plan:
        """End the plan and take the flag back to 0 % (everyone on the control)."""
        flag, plan = await self.get(name)
        if plan.state not in ACTIVE:
            raise InvalidValue(f"the plan of {name!r} is already {plan.state}")
        plan.state = "aborted"
        _note(plan, "aborted", self.plane.operator.name, reason, to_bp=0)
        return await self._write(flag, plan, "rollout.abort", reason, rollout_bp=0)

    async def _write(
        self,
        flag: Flag,
        plan: Plan,
        action: str,
        reason: str,
        *,
        enabled: bool | None = None,
        rollout_bp: int | None = None,
        expected: int | None = None,
    ) -> Plan:
        """One apply: the plan and the flag's state together, CAS on the version we read."""
        from agentconsole.control.flags import Flag as FlagDoc

        self.plane.operator.require(action)
        if plan.state in ("running", "completed") and rollout_bp is None:
            rollout_bp = plan.current_bp
        doc = flag.to_doc()
        doc["plan"] = plan.to_doc()
        if enabled is not None:
            doc["enabled"] = enabled
        if rollout_bp is not None:
            doc["rollout_bp"] = rollout_bp
        doc["changed_by"] = self.plane.operator.name
        doc["changed_at"] = time.time()
        doc["reason"] = reason
        version = flag.version if expected is None else expected
        change = await self.plane.apply(
            hash_key=self.plane.keys.flags,
            field=flag.name,
            entity="flag",
            action=action,
            new_doc=FlagDoc.from_doc(doc).to_doc(),
            expected_version=version,
            reason=reason,
        )
        written = FlagDoc.from_doc(change.doc or {})
        return Plan.from_doc(written.plan or {})


def _note(plan: Plan, event: str, actor: str, reason: str, to_bp: int | None = None) -> None:
    entry = {
        "ts": round(time.time(), 3),
        "event": event,
        "step": plan.step,
        "bp": plan.current_bp if to_bp is None else to_bp,
        "actor": actor,
        "reason": reason[:300],
    }
    plan.history = [*plan.history, entry][-HISTORY_LIMIT:]


def _g(value: float) -> str:
    return f"{value:.6g}"
