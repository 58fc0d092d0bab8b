"""Every operator action, declared once: the CLI, the console and runbooks dispatch these rows.

An :class:`Operation` carries what each front-end used to spell for itself: its name (one
verb, used by the CLI, the console's ``:`` line and palette, runbook ``action`` blocks and
the audit log), the permission it needs (a key of ``roles.REQUIRED_ROLE``), whether it is
destructive (a confirmation naming targets and count, asking for a reason), its typed
parameters (parsed by the one grammar in ``agentconsole.text``), and how it runs. Running
it returns an :class:`Outcome` whose text says what really happened; the CLI prints it, the
console toasts it, a runbook step shows it.

Adding an operation
-------------------
1. Add its permission to ``roles.REQUIRED_ROLE`` (the name is the audit action too).
2. Write ``async def _my_op(plane, call) -> Outcome`` below: read ``call.args`` (already
   parsed and typed), change state through the control plane (which checks the role and
   audits in the same atomic step), and say what happened.
3. Add one row to :data:`OPERATIONS`::

       Operation(
           "flag.variant",                      # words: `flag variant` everywhere
           "serve one variant of a flag",
           (FLAG_PARAM, Param("variant", NAME, "the variant's name")),
           _set_variant,
           aliases=("variant",),                # optional short `:` verbs
           destructive=False,                   # True: confirmation + reason
       )

   Front-ends pick it up: runbooks (``flag variant my-flag blue``), the ``:`` line and the
   palette (on any row whose selection fills the params that have a ``subject``), and the
   generic CLI (``agentconsole do flag variant my-flag blue``).
4. Give it a subcommand of its own: ``dispatch.add(sub, "flag.variant")`` in its CLI
   module (tests/test_operations_walk.py fails for a row without one), and a console key
   in a view's ``BINDINGS`` (action ``op('flag.variant')``) if operators need one at 3 a.m.
   A dialog that needs more than the parameters (a preview, a prefilled value) is an
   asker in ``tui/operations.py``, not a screen of its own.
5. The walk (tests/test_operations_walk.py) runs the row from the CLI, the console and a
   runbook by itself; a new kind of parameter needs a sample there, a row that needs a
   state to act on (a kill to lift) a ``BEFORE`` entry.

Read-only mode and roles remove operations (see :func:`available`): a front-end never lists
permissions of its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from agentconsole import text
from agentconsole.control import flag_ops, rollout_ops
from agentconsole.control.errors import InvalidValue, NotFound
from agentconsole.control.roles import REQUIRED_ROLE, Operator

if TYPE_CHECKING:
    from agentconsole.control.breakers import BreakerMode
    from agentconsole.control.flags import Flag
    from agentconsole.control.plane import ControlPlane

T = TypeVar("T")

# --- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A type of parameter value: how it is written (``label``) and parsed.

    ``parse(raw, what)`` returns the typed value or raises ``text.Invalid``; ``show(value)``
    writes a typed value back as it is typed (``command_line``: the one spelling reads back
    as the same call). ``complete`` names where the console finds candidates ("agent",
    "tenant", "dependency", "flag") or lists them (``choices``).
    """

    label: str
    parse: Callable[[Any, str], Any]
    complete: str | None = None
    choices: tuple[str, ...] = ()
    show: Callable[[Any], str] | None = None  # a parsed value written back (it parses again)


def _choice(*values: str) -> Callable[[Any, str], str]:
    def parse(raw: Any, what: str) -> str:
        value = str(raw).strip().lower().replace("_", "-")
        if value not in values:
            raise text.Invalid(f"{what} must be one of {', '.join(values)}, got {text.quoted(raw)}")
        return value

    return parse


def _flag_name(raw: Any, what: str) -> str:
    from agentconsole.control.flags import check_name

    return check_name(raw, what)


def _number(raw: Any, what: str) -> float:
    """A finite number, zero or more (budget values): no nan, no inf, no exponent tricks."""
    if isinstance(raw, bool):
        raise text.Invalid(f"{what} must be a number, got {raw!r}")
    try:
        value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        raise text.Invalid(f"{what} must be a number, got {text.quoted(raw)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise text.Invalid(f"{what} must be a finite number, got {text.quoted(raw)}")
    if value < 0:
        raise text.Invalid(f"{what} cannot be negative, got {text.quoted(raw)}")
    return value


def _budget(raw: Any, what: str) -> str:
    from agentconsole.control.budgets import normalise_name

    return normalise_name(str(raw))


def _field_name(raw: Any, what: str) -> str:
    from agentconsole.control.flags import check_name

    return check_name(str(raw).strip(), what)


def _weight(raw: Any, what: str) -> tuple[str, int]:
    from agentconsole.control.flag_edits import parse_weights

    if isinstance(raw, tuple):
        return raw
    weights = parse_weights(str(raw))
    if len(weights) != 1:
        raise text.Invalid(f"{what}: one VARIANT=WEIGHT per word, got {text.quoted(raw)}")
    return next(iter(weights.items()))


def _variant_spec(raw: Any, what: str) -> tuple[str, int, str | None]:
    from agentconsole.control.flag_edits import parse_variant_spec

    return raw if isinstance(raw, tuple) else parse_variant_spec(str(raw))


def _constraint(raw: Any, what: str) -> Any:
    from agentconsole.control.targeting import Constraint, parse_constraint

    return raw if isinstance(raw, Constraint) else parse_constraint(str(raw))


def _on_off(raw: Any, what: str) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value not in ("on", "off"):
        raise text.Invalid(f"{what} must be on or off, got {text.quoted(raw)}")
    return value == "on"


def _keys(raw: Any, what: str) -> list[str]:
    """Comma-separated keys (``u1, u2``); a lone ``,`` is the empty list."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [text.name(item.strip(), what) for item in items if item.strip()]


TEXT_MAX = 500


def _free_text(raw: Any, what: str) -> str:
    """A description: printable text, at most ``TEXT_MAX`` characters."""
    value = str(raw).strip()
    if len(value) > TEXT_MAX:
        raise text.Invalid(f"{what} is longer than {TEXT_MAX} characters")
    if not value.isprintable():
        raise text.Invalid(f"{what} holds control characters: {text.quoted(value)}")
    return value


def _show_steps(bp: list[int]) -> str:
    return ",".join(text.format_percent(b).rstrip("%") for b in bp)


def _show_variant(spec: tuple[str, int, str | None]) -> str:
    name, weight, payload = spec
    return f"{name}={weight}" + ("" if payload is None else f":{payload}")


def _show_constraint(c: Any) -> str:
    op = ("NOT " if c.inverted else "") + c.operator + ("/i" if c.case_insensitive else "")
    from agentconsole.control.targeting import VALUE_OPERATORS

    return f"{c.context} {op} {c.value if c.operator in VALUE_OPERATORS else ','.join(c.values)}"


def _raw(raw: Any, what: str) -> str:
    """A payload as typed; the flag's value type parses it when the operation runs."""
    return str(raw)


NAME = Kind("NAME", text.name)
REQUEST = Kind("REQUEST_ID", text.name, complete="request")
INCIDENT = Kind("INCIDENT_ID", text.name)
PATH = Kind("FILE", _free_text)
AGENT = Kind("AGENT_ID", text.name, complete="agent")
TENANT = Kind("TENANT", text.name, complete="tenant")
DEPENDENCY = Kind("DEPENDENCY", text.name, complete="dependency")
FLAG = Kind("FLAG", _flag_name, complete="flag")
DURATION = Kind("DURATION", text.duration)
PERCENT = Kind("PERCENT", text.percent)
NUMBER = Kind("NUMBER", _number)
SCOPE = Kind("SCOPE", _choice("agent", "tenant", "all"), choices=("agent", "tenant", "all"))
BUDGET = Kind("LIMIT", _budget, complete="budget")
CONTEXT_FIELD = Kind("FIELD", _field_name, choices=("tenant", "user", "agent"))
VARIANT = Kind("VARIANT", _field_name, complete="variant")
WEIGHT = Kind("VARIANT=WEIGHT", _weight, show=lambda w: f"{w[0]}={w[1]}")
VARIANT_SPEC = Kind("VARIANT=WEIGHT[:PAYLOAD]", _variant_spec, show=_show_variant)
VALUE_TYPE = Kind(
    "TYPE", _choice("boolean", "string", "number", "json"), choices=("string", "number", "json")
)
STICKY = Kind("STICKINESS", _choice("user", "tenant", "agent"), choices=("user", "tenant", "agent"))
PAYLOAD = Kind("VALUE", _raw)
NEW_FLAG = Kind("FLAG", _flag_name)  # a name not taken yet: no completion from the flags
FLAG_TYPE = Kind(
    "TYPE",
    _choice("release", "experiment", "operational", "kill-switch"),
    choices=("release", "experiment", "operational", "kill-switch"),
)
ON_OFF = Kind("on|off", _on_off, choices=("on", "off"), show=lambda on: "on" if on else "off")
KEYS = Kind("KEY,KEY...", _keys, show=lambda keys: ",".join(keys) or ",")
TEXT = Kind("TEXT", _free_text)
CONSTRAINT = Kind("'FIELD [NOT] OP VALUES'", _constraint, show=_show_constraint)
STEPS = Kind("STEPS", rollout_ops.steps, show=_show_steps)
GUARD = Kind("METRIC:LIMIT", rollout_ops.guard, show=lambda g: g.text())
RUNS = Kind("RUNS", rollout_ops.runs)
CONFIDENCE = Kind("CONFIDENCE", rollout_ops.confidence)
REGRESSION = Kind("ACTION", rollout_ops.regression, choices=("pause", "rollback", "last-good"))


@dataclass(frozen=True)
class Param:
    """One typed parameter.

    ``subject``: the console fills it from the selected row (an agent row offers its
    ``agent`` and its ``tenant``; a breaker row its ``dependency``; a flag row its ``flag``).
    ``keyword``: also written ``KEYWORD VALUE`` on the ``:`` line and in runbooks
    (``for 15m``) and as ``--KEYWORD`` in the CLI. ``many``: one or more values.
    """

    name: str
    kind: Kind
    help: str = ""
    optional: bool = False
    keyword: str | None = None
    subject: str | None = None
    many: bool = False
    switch: bool = False  # an ON_OFF keyword the CLI writes as a bare ``--KEYWORD`` (on)

    def parse(self, raw: Any) -> Any:
        what = self.name.replace("_", " ")
        try:
            if self.many:
                values = [raw] if isinstance(raw, str) or not isinstance(raw, Iterable) else raw
                parsed = [self.kind.parse(v, what) for v in values]
                if not parsed:
                    raise text.Invalid(f"{what}: give at least one")
                return parsed
            return self.kind.parse(raw, what)
        except InvalidValue:
            raise
        except text.Invalid as exc:
            raise InvalidValue(str(exc)) from None


def option(name: str, kind: Kind, help: str = "", keyword: str = "", **kw: Any) -> Param:
    """An optional parameter written ``KEYWORD VALUE`` (``--KEYWORD`` in the CLI); the
    keyword is the name (dashes for underscores) unless given."""
    return Param(name, kind, help, True, keyword or name.replace("_", "-"), **kw)


# --- operations ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What really happened, in one line for people (``text``) and as data (``data``).

    ``warning``: it was done, but not entirely as asked (an agent did not acknowledge, a
    kill was already in force); ``failed``: it was not done (an import with conflicts
    writes nothing). Front-ends show it, they never rewrite it.
    """

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    warning: bool = False
    failed: bool = False  # nothing (or not all) was done, as the text says: the CLI exits 1


@dataclass
class Call:
    """One request to run an operation: parsed arguments plus what every change carries."""

    op: Operation
    args: dict[str, Any]
    reason: str = ""
    wait: float = 2.0  # seconds to wait for kill acknowledgements (0: do not wait)
    expected_version: int | None = None  # compare-and-set against the version shown
    context: dict[str, Any] = field(default_factory=dict)  # e.g. the alert a silence is for
    approved: str = ""  # the four-eyes request this call carries out (control/approvals.py)
    override: bool = False  # emergency override of a required approval: loud, audited

    @property
    def line(self) -> str:
        return command_line(self.op, self.args)


@dataclass
class Preview:
    """What a confirmation shows: the exact targets (also those a filter hides) and count."""

    title: str
    targets: list[str]
    detail: str = ""
    confirm: bool = False  # destructive here and now: confirm, with a reason

    @property
    def count(self) -> int:
        return len(self.targets)


Runner = Callable[["ControlPlane", Call], Awaitable[Outcome]]
Previewer = Callable[["ControlPlane", Call], Awaitable[Preview]]


@dataclass(frozen=True)
class Operation:
    name: str  # "breaker.trip": the audit action; its words ("breaker trip") in every front-end
    summary: str
    params: tuple[Param, ...]
    execute: Runner
    destructive: bool = False
    aliases: tuple[str, ...] = ()
    permission: str = ""  # defaults to ``name``; always a key of roles.REQUIRED_ROLE
    preview_fn: Previewer | None = None
    check: Callable[[dict[str, Any]], None] | None = None  # rules across parameters
    versioned: bool = False  # honours Call.expected_version (compare-and-set)

    def __post_init__(self) -> None:
        if not self.permission:
            object.__setattr__(self, "permission", self.name)
        if self.permission not in REQUIRED_ROLE:
            raise ValueError(f"operation {self.name}: no role for permission {self.permission}")

    @property
    def words(self) -> tuple[str, ...]:
        """How it is written: ``breaker.force_close`` -> ``breaker force-close``."""
        return tuple(self.name.replace("_", "-").split("."))

    @property
    def verb(self) -> str:
        return " ".join(self.words)

    @property
    def usage(self) -> str:
        return f"{self.verb} {usage(self.params)}".rstrip()

    def parse_args(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed arguments from raw values (strings from a command line, or values)."""
        unknown = set(raw) - {p.name for p in self.params}
        if unknown:
            raise InvalidValue(f"{self.verb}: unknown argument {', '.join(sorted(unknown))}")
        args: dict[str, Any] = {}
        for p in self.params:
            value = raw.get(p.name)
            if value is None or value == "" or value == []:
                if not p.optional:
                    raise InvalidValue(f"{self.verb} needs {p.kind.label}: usage: {self.usage}")
                continue
            args[p.name] = p.parse(value)
        if self.check is not None:
            self.check(args)
        return args

    def call(self, raw: Mapping[str, Any] | None = None, **options: Any) -> Call:
        """A :class:`Call` with ``raw`` parsed (raises InvalidValue before anything runs)."""
        return Call(self, self.parse_args(raw or {}), **options)

    async def preview(self, plane: ControlPlane, call: Call) -> Preview:
        if self.preview_fn is not None:
            return await self.preview_fn(plane, call)
        targets = [str(v) for p in self.params if p.subject for v in _values(call.args, p)]
        return Preview(call.line, targets, confirm=self.destructive)

    async def run(self, plane: ControlPlane, call: Call) -> Outcome:
        """Check the role and the four-eyes policy, then run. The control plane audits each
        change exactly once."""
        from agentconsole.control import approvals

        plane.operator.require(self.permission)
        held = await approvals.gate(plane, call)
        if held is not None:
            return held  # stored as a request: a second operator decides
        with approvals.carrying(call):  # its changes name the approval: the applier checks
            outcome = await self.execute(plane, call)
        if call.override and approvals.required(plane, self.name):
            outcome.text = f"EMERGENCY OVERRIDE of the four-eyes rule (audited): {outcome.text}"
            outcome.warning = True
        return outcome


def usage(params: Iterable[Param]) -> str:
    """How parameters are written after the verb: ``DEPENDENCY [for DURATION]``."""
    parts = []
    for p in params:
        shown = p.kind.label + (" ..." if p.many else "")
        if p.keyword:
            shown = f"{p.keyword} {shown}"
        parts.append(f"[{shown}]" if p.optional else shown)
    return " ".join(parts)


def _values(args: Mapping[str, Any], p: Param) -> list[Any]:
    value = args.get(p.name)
    if value is None:
        return []
    return list(value) if p.many else [value]


def quote(value: str) -> str:
    """A name as typed back on a command line: quoted when it holds blanks or quotes."""
    if value and all(ch not in value for ch in " \t\"'\\{}"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(op: Operation, args: Mapping[str, Any]) -> str:
    """The one spelling of a call: ``breaker trip openai for 15m``, ``kill tenant "Acme Corp"``."""
    parts = [op.verb]
    for p in op.params:
        for value in _values(args, p):
            shown = _show(p.kind, value)
            parts.extend([p.keyword, shown] if p.keyword else [shown])
    return " ".join(parts)


def _show(kind: Kind, value: Any) -> str:
    if kind.show is not None:
        return quote(kind.show(value))
    if kind is DURATION:
        return text.format_duration(float(value))
    if kind is PERCENT:
        return text.format_percent(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return quote(str(value))


# --- words: the `:` line and runbook action blocks ------------------------------------------


def match(words: Sequence[str | None]) -> tuple[Operation, int] | None:
    """The operation a line starts with and how many words named it (longest verb first,
    then a short alias). ``None`` in ``words`` is a template: never part of a verb."""
    said = [w.lower().replace("_", "-") if w is not None else None for w in words]
    for op in BY_LENGTH:
        n = len(op.words)
        if tuple(said[:n]) == op.words:
            return op, n
    if said and said[0] is not None:
        for op in OPERATIONS:
            if said[0] in op.aliases:
                return op, 1
    return None


def bind(
    op: Operation,
    tokens: Sequence[T],
    literal: Callable[[T], str | None],
    given: Iterable[str] = (),
) -> dict[str, T]:
    """Assign the tokens after the verb to parameters: ``KEYWORD VALUE`` pairs first, then
    positions in order (the last ``many`` parameter takes the rest). ``literal(token)`` is the
    token's text, or None for a template (a template is never a keyword). Parameters named
    in ``given`` are filled already (the console's selected row): positions skip them."""
    rest = list(tokens)
    skip = set(given)
    bound: dict[str, Any] = {}
    keywords = {p.keyword: p for p in op.params if p.keyword}
    i = 0
    while i < len(rest) - 1:
        word = literal(rest[i])
        p = keywords.get(word.lower()) if word is not None else None
        if p is not None and p.name not in bound:
            bound[p.name] = rest[i + 1]
            del rest[i : i + 2]
        else:
            i += 1
    for p in op.params:
        if p.name in bound or p.name in skip or not rest:
            continue
        if p.many:
            bound[p.name], rest = rest, []
        else:
            bound[p.name] = rest.pop(0)
    if rest:
        raise InvalidValue(f"bad arguments for {op.verb}: usage: {op.usage}")
    return bound


def parse_line(line: str) -> Call:
    """A ``:`` command line (``kill sim-0001``, ``trip openai 15m``, ``kill tenant "Acme
    Corp"``) -> a Call with its arguments parsed by the one grammar."""
    import shlex

    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise InvalidValue(f"cannot read {text.quoted(line)}: {exc}") from None
    found = match(words)
    if found is None:
        verb = text.quoted(words[0] if words else "", 30)
        raise InvalidValue(f"unknown operation {verb} (known: {', '.join(VERBS)})")
    op, n = found
    return op.call(bind(op, words[n:], lambda w: w))


# --- who may do what ------------------------------------------------------------------------


def available(
    op: Operation, operator: Operator, *, read_only: bool = False, denied: Iterable[str] = ()
) -> bool:
    """Whether ``op`` exists for this operator: read-only mode removes every operation (they
    all write), a role removes what it lacks, Redis' ACL refusals remove what it refused."""
    return not read_only and operator.can(op.permission) and op.permission not in set(denied)


def available_ops(
    operator: Operator, *, read_only: bool = False, denied: Iterable[str] = ()
) -> list[Operation]:
    denied = set(denied)
    return [op for op in OPERATIONS if available(op, operator, read_only=read_only, denied=denied)]


def offers(op: Operation, selection: Mapping[str, str]) -> dict[str, Any] | None:
    """Arguments ``op`` takes from a selected row (``{"agent": id, "tenant": t}``), or None
    when the row cannot fill a required subject parameter (a breaker op on an agent row)."""
    args: dict[str, Any] = {}
    for p in op.params:
        if p.subject is None:
            continue
        value = selection.get(p.subject)
        if value:
            args[p.name] = [value] if p.many else value
        elif not p.optional:
            return None
    return args


# --- the kill orchestration (the one copy) ------------------------------------------------


def _kill_targets(call: Call) -> list[dict[str, Any]]:
    scope = call.op.name.split(".", 1)[1]
    if scope == "agent":
        return [{"agent": a} for a in call.args["agent"]]
    if scope == "tenant":
        return [{"tenant": call.args["tenant"]}]
    return [{"everything": True}]


def _describe_kill(target: str) -> str:
    if target == "all":
        return "every agent (global stop)"
    scope, _, name = target.partition(":")
    return f"{scope} {name}"


async def kill_and_wait(
    plane: ControlPlane, kills: list[dict[str, Any]], *, reason: str, wait: float
) -> Outcome:
    """Store and publish each kill, list the agents it stops, wait for their
    acknowledgements, and say who did not acknowledge. Nothing else spells this."""
    since = time.time()
    outcomes, failures = [], []
    for kw in kills:
        try:
            outcomes.append(await plane.kills.kill(**kw, reason=reason))
        except NotFound as exc:
            if len(kills) == 1:
                raise
            failures.append(str(exc))
    agents = sorted({a for o in outcomes for a in o.agents})
    report = None
    if agents and wait > 0:
        report = await plane.kills.wait_for_acks(agents, since=since, timeout=wait)
    shown = ", ".join(_describe_kill(o.target) for o in outcomes[:3])
    shown += " …" if len(outcomes) > 3 else ""
    head = ""
    already = [o for o in outcomes if not o.created]
    for o in already[:1]:
        kill = o.kill
        head = (
            f"a kill of {_describe_kill(o.target)} was already in force since "
            f"{text.ago(kill.get('at'))} (by {kill.get('requester', '?')}: "
            f"{kill.get('reason') or 'no reason'}); "
        )
    if len(already) > 1:
        head = f"{len(already)} kills were already in force; "
    if not outcomes:
        body = "no kill applied"
    elif not agents:
        body = (
            f"kill of {shown} in force; no running agent matched "
            "(agents that start later stop at once)"
        )
    elif report is None:
        body = f"kill of {shown} sent to {len(agents)} agent{'s' * (len(agents) != 1)}; not waiting"
    else:
        body = report.summary(timed=any(o.created for o in outcomes))
    tail = f"; {len(failures)} failed: {failures[0]}" if failures else ""
    data: dict[str, Any] = {
        "target": outcomes[0].target if len(outcomes) == 1 else [o.target for o in outcomes],
        "created": all(o.created for o in outcomes) if outcomes else False,
        "kill": outcomes[0].kill if len(outcomes) == 1 else [o.kill for o in outcomes],
        "agents": agents,
        "acknowledged": report.acknowledged if report else {},
        "not_acknowledged": report.missing if report else [],
        "ended_on_their_own": report.ended if report else [],
        "failed": failures,
    }
    warning = bool(failures or (report and report.missing))
    return Outcome(text.clean(head + body + tail, 2000), data, warning)


async def _kill(plane: ControlPlane, call: Call) -> Outcome:
    return await kill_and_wait(plane, _kill_targets(call), reason=call.reason, wait=call.wait)


async def _preview_kill(plane: ControlPlane, call: Call) -> Preview:
    from agentconsole.control.kills import target_for

    kws = _kill_targets(call)
    if call.op.name == "kill.agent":
        ids = list(call.args["agent"])
        title = f"Kill {len(ids)} agent{'s' * (len(ids) != 1)}"
        detail = "Each agent stops at its next step and acknowledges."
        return Preview(title, ids, detail, confirm=True)
    target = target_for(**kws[0])
    ids = await plane.kills.affected_ids(target)
    if target == "all":
        title = f"GLOBAL STOP: kill every agent ({len(ids)} running now) and all new ones"
    else:
        title = f"Kill tenant {call.args['tenant']}: {len(ids)} running agents, and new ones"
    detail = "The kill stays in force until lifted (kill lift)."
    return Preview(title, ids, detail, confirm=True)


def _lift_target(args: Mapping[str, Any]) -> str:
    from agentconsole.control.kills import target_for

    scope = args["scope"]
    if scope == "all":
        return target_for(everything=True)
    if scope == "agent":
        return target_for(agent=args.get("name"))
    return target_for(tenant=args.get("name"))


def _scope_and_name(verb: str) -> Callable[[dict[str, Any]], None]:
    """The rule of every lift (``kill lift``, ``drain lift``, ``pause lift``): a name for an
    agent or a tenant, none for all."""

    def check(args: dict[str, Any]) -> None:
        if args["scope"] == "all" and args.get("name"):
            raise InvalidValue(f"{verb} all takes no name")
        if args["scope"] != "all" and not args.get("name"):
            raise InvalidValue(f"{verb} {args['scope']} needs a NAME")

    return check


_check_lift = _scope_and_name("kill lift")


async def _preview_lift(plane: ControlPlane, call: Call) -> Preview:
    """What a lift (kill, drain or pause) lifts, said as the operator means it ("Resume every
    agent"), and who put it in force, when and why. Lifting is safe: a calm dialog."""
    from agentconsole.control.holds import describe

    kind = call.op.name.split(".", 1)[0]
    scope = call.args.get("scope")
    if scope is None or (scope != "all" and not call.args.get("name")):
        return Preview(call.line, [])  # asked on the dialog's line first
    target = _lift_target(call.args)
    if kind == "kill":
        kills, _ = await plane.kills.list()
        doc, what = kills.get(target), _describe_kill(target)
        title = f"Lift the kill of {what}: new agents of that scope may run"
    else:
        holds, _ = await plane.holds.list()
        doc, what = holds.get(f"{kind}:{target}"), describe(target)
        then = "new runs may start" if kind == "drain" else "held runs continue"
        title = f"{_LIFT_VERB[kind].capitalize()} {what}: {then}"
    if doc is None:
        detail = f"No {kind} is in force for {what}: nothing to lift."
    else:
        by = doc.get("requester", "?")
        detail = (
            f"In force since {text.ago(doc.get('at'))} by {by}: {doc.get('reason') or 'no reason'}"
        )
    return Preview(title, [], detail)


async def _lift(plane: ControlPlane, call: Call) -> Outcome:
    target = _lift_target(call.args)
    await plane.kills.lift(target, reason=call.reason)
    return Outcome(
        f"kill of {_describe_kill(target)} lifted: new agents of that scope may run",
        {"target": target, "lifted": True},
    )


# --- the ladder before a kill: drain, pause (control/holds.py) --------------------------------

# How each hold reads in a preview and an outcome: (what its runs do, what one run does,
# what new runs do).
_HOLD_TEXT = {
    "drain": ("will finish", "will finish", "new runs refused"),
    "pause": (
        "hold at their next step until resumed",
        "holds at its next step until resumed",
        "new runs hold too",
    ),
}
_LIFT_VERB = {"drain": "undrain", "pause": "resume"}
_DOING = {"drain": "draining", "pause": "pausing"}


def _runs(kind: str, n: int) -> str:
    """``19 running runs will finish, new runs refused``."""
    many, one, new = _HOLD_TEXT[kind]
    return f"{n} running run{'s' * (n != 1)} {one if n == 1 else many}, {new}"


async def _hold(plane: ControlPlane, call: Call) -> Outcome:
    """Drain or pause each target, then say what its running runs do; a pause waits (up to
    ``call.wait``) for the runs to report ``paused``: the agents' own acknowledgement."""
    from agentconsole.control.holds import STATUS, describe

    kind = call.op.name.split(".", 1)[0]
    since = time.monotonic()
    targets = _kill_targets(call)
    outcomes, failures = [], []
    for kw in targets:
        try:
            outcomes.append(await plane.holds.hold(kind, **kw, reason=call.reason))
        except NotFound as exc:  # one unknown agent of several: hold the others, say so
            if len(targets) == 1:
                raise
            failures.append(str(exc))
    agents = sorted({a for o in outcomes for a in o.agents})
    shown = ", ".join(describe(o.target) for o in outcomes[:3]) + (
        " …" if len(outcomes) > 3 else ""
    )
    head = ""
    already = [o for o in outcomes if not o.created]
    if already:
        first = already[0].hold
        head = (
            f"a {kind} of {describe(already[0].target)} was already in force since "
            f"{text.ago(first.get('at'))} (by {first.get('requester', '?')}: "
            f"{first.get('reason') or 'no reason'}); "
        )
    body = f"{_DOING[kind]} {shown}: {_runs(kind, len(agents))}" if outcomes else "nothing held"
    missing: list[str] = []
    if kind == "pause" and agents and call.wait > 0:
        done, missing, last = await plane.holds.wait_for_status(
            agents, (STATUS[kind],), call.wait, since
        )
        body += f"; {len(done)} reported paused"
        body += f" within {last * 1000:.0f} ms" if done else ""
        if missing:
            more = " ..." if len(missing) > 5 else ""
            body += f"; not yet: {', '.join(missing[:5])}{more}"
    undo = f" ({_LIFT_VERB[kind]} {_lift_words(outcomes[0].target)} lifts it)" if outcomes else ""
    tail = f"; {len(failures)} failed: {failures[0]}" if failures else ""
    data = {
        "kind": kind,
        "target": outcomes[0].target if len(outcomes) == 1 else [o.target for o in outcomes],
        "created": all(o.created for o in outcomes),
        "hold": outcomes[0].hold if len(outcomes) == 1 else [o.hold for o in outcomes],
        "agents": agents,
        "not_reported": missing,
        "failed": failures,
    }
    return Outcome(text.clean(head + body + undo + tail, 2000), data, bool(missing or failures))


def _lift_words(target: str) -> str:
    """``tenant:acme`` -> ``tenant acme``, as typed after ``resume`` / ``undrain``."""
    scope, _, name = target.partition(":")
    return f"{scope} {quote(name)}" if name else scope


async def _preview_hold(plane: ControlPlane, call: Call) -> Preview:
    from agentconsole.control.kills import target_for

    kind = call.op.name.split(".", 1)[0]
    kws = _kill_targets(call)
    detail = f"In force until lifted ({_LIFT_VERB[kind]}); a kill still stops these runs."
    if call.op.name.endswith(".agent"):
        ids = list(call.args["agent"])
        n = len(ids)
        return Preview(
            f"{kind.capitalize()} {n} agent{'s' * (n != 1)}: {_runs(kind, n)}",
            ids,
            detail,
            confirm=True,
        )
    target = target_for(**kws[0])
    ids = await plane.holds.running(target)
    what = "every agent" if target == "all" else f"tenant {call.args['tenant']}"
    title = f"{kind.capitalize()} {what}: {_runs(kind, len(ids))}"
    return Preview(title, ids, detail, confirm=True)


async def _lift_hold(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control.holds import describe

    kind = call.op.name.split(".", 1)[0]
    target = _lift_target(call.args)
    await plane.holds.lift(kind, target, reason=call.reason)
    then = "new runs may start" if kind == "drain" else "held runs continue"
    word = "drain" if kind == "drain" else "pause"
    return Outcome(
        f"{word} of {describe(target)} lifted: {then}",
        {"kind": kind, "target": target, "lifted": True},
    )


def _hold_rows(kind: str, summary: dict[str, str]) -> tuple[Operation, ...]:
    """The four rows of one hold: its agent, tenant and all scopes, and its lift."""
    lift = _LIFT_VERB[kind]
    return (
        Operation(
            f"{kind}.agent",
            summary["agent"],
            (Param("agent", AGENT, "agent id", subject="agent", many=True),),
            _hold,
            destructive=True,
            aliases=(kind,),
            preview_fn=_preview_hold,
        ),
        Operation(
            f"{kind}.tenant",
            summary["tenant"],
            (Param("tenant", TENANT, "the tenant", subject="tenant"),),
            _hold,
            destructive=True,
            preview_fn=_preview_hold,
        ),
        Operation(
            f"{kind}.all",
            summary["all"],
            (),
            _hold,
            destructive=True,
            preview_fn=_preview_hold,
        ),
        Operation(
            f"{kind}.lift",
            summary["lift"],
            (Param("scope", SCOPE, "agent, tenant or all"), Param("name", NAME, "", optional=True)),
            _lift_hold,
            aliases=(lift,),
            preview_fn=_preview_lift,
            check=_scope_and_name(f"{kind} lift"),
        ),
    )


_HOLD_OPERATIONS = _hold_rows(
    "drain",
    {
        "agent": "no new runs for these agents; running ones finish",
        "tenant": "no new runs for a tenant; running ones finish",
        "all": "no new runs anywhere; running ones finish",
        "lift": "lift a drain (undrain) so new runs of that scope may start",
    },
) + _hold_rows(
    "pause",
    {
        "agent": "hold these agents' runs at their next step until resumed",
        "tenant": "hold a tenant's runs at their next step until resumed",
        "all": "hold every run at its next step until resumed",
        "lift": "lift a pause (resume) so held runs continue",
    },
)


# --- breakers, flags, budgets, registry -----------------------------------------------------


def _breaker_text(mode: BreakerMode) -> Outcome:
    from dataclasses import asdict

    until = f" until {text.hms(mode.until)} UTC" if mode.until else ""
    return Outcome(
        f"breaker {mode.dependency} is now {mode.mode}{until} (v{mode.version})",
        asdict(mode) | {"mode_in_force": mode.effective()},
    )


async def _trip(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    mode = await plane.breakers.trip(a["dependency"], for_seconds=a.get("for"), reason=call.reason)
    return _breaker_text(mode)


async def _force_close(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    mode = await plane.breakers.force_close(
        a["dependency"], for_seconds=a.get("for"), reason=call.reason
    )
    return _breaker_text(mode)


async def _reset(plane: ControlPlane, call: Call) -> Outcome:
    mode = await plane.breakers.reset(call.args["dependency"], reason=call.reason)
    return _breaker_text(mode)


async def _preview_breaker(plane: ControlPlane, call: Call) -> Preview:
    dep = call.args["dependency"]
    span = f" for {text.format_duration(call.args['for'])}" if call.args.get("for") else ""
    if call.op.name == "breaker.trip":
        title = f"Trip breaker {dep}{span}: every agent stops calling it"
        detail = "Calls are rejected at once (counted as rejected), until reset or deadline."
    else:
        title = f"Force-close breaker {dep}{span}: agents call it even while it fails"
        detail = "The automatic breaker is overridden until reset or deadline."
    return Preview(title, [dep], detail, confirm=True)


async def _preview_reset(plane: ControlPlane, call: Call) -> Preview:
    """Back to automatic, with what it ends: the operator's mode, who set it, when, why."""
    dep = call.args["dependency"]
    title = f"Reset breaker {dep} to automatic: the agents' failure counting decides"
    mode = await plane.breakers.get(dep)
    if mode is None or mode.effective() == "auto":
        return Preview(title, [dep], f"Breaker {dep} is already automatic: nothing changes.")
    by = mode.changed_by or "?"
    why = mode.reason or "no reason"
    detail = f"Ends {mode.mode}, set {text.ago(mode.changed_at)} by {by}: {why}"
    return Preview(title, [dep], detail)


def _flag_outcome(flag: Flag, verb: str = "") -> Outcome:
    """``flag f is now on, rollout 5% (v3)`` or ``flag f created: off, rollout 100%, version 1``"""
    state = "on" if flag.enabled else "off"
    data = flag.to_doc() | {"rollout": flag.rollout}
    if verb:
        said = f"{verb}: {state}, rollout {flag.rollout}, version {flag.version}"
        return Outcome(f"flag {flag.name} {said}", data)
    return Outcome(
        f"flag {flag.name} is now {state}, rollout {flag.rollout} (v{flag.version})", data
    )


async def _enable(plane: ControlPlane, call: Call) -> Outcome:
    flag = await plane.flags.enable(
        call.args["flag"], reason=call.reason, expected_version=call.expected_version
    )
    return _flag_outcome(flag)


async def _disable(plane: ControlPlane, call: Call) -> Outcome:
    flag = await plane.flags.disable(
        call.args["flag"], reason=call.reason, expected_version=call.expected_version
    )
    return _flag_outcome(flag)


async def _preview_disable(plane: ControlPlane, call: Call) -> Preview:
    """Turning an enabled kill-switch off stops a feature fleet-wide: that one confirms."""
    flag = await plane.flags.get(call.args["flag"])
    if flag.is_kill_switch and flag.enabled:
        if call.expected_version is None:
            call.expected_version = flag.version  # the change is made against what was shown
        return Preview(
            f"Disable kill-switch flag {flag.name}: this ENGAGES the kill switch",
            [flag.name],
            "Agents stop the guarded feature now, fleet-wide.",
            confirm=True,
        )
    return Preview(call.line, [flag.name])


async def _rollout(plane: ControlPlane, call: Call) -> Outcome:
    flag = await plane.flags.set_rollout(
        call.args["flag"],
        text.format_percent(call.args["percent"]),
        reason=call.reason,
        expected_version=call.expected_version,
    )
    return _flag_outcome(flag)


async def _create_flag(plane: ControlPlane, call: Call) -> Outcome:
    a = call.args
    flag = await plane.flags.create(
        a["flag"],
        type=a.get("type", "release"),
        enabled=a.get("enabled", False),
        rollout=text.format_percent(a.get("rollout", text.FULL_BP)),
        stickiness=a.get("stickiness", "user"),
        group=a.get("group", ""),
        default=a.get("default", False),
        description=a.get("description", ""),
        owner=a.get("owner", ""),
        reason=call.reason,
    )
    return _flag_outcome(flag, "created")


UPDATABLE = ("allow", "deny", "description", "owner", "default", "stickiness", "type", "tracked")


def _check_update(args: dict[str, Any]) -> None:
    if not any(name in args for name in UPDATABLE):
        raise InvalidValue(f"nothing to update: give one of {', '.join(UPDATABLE)}")


async def _update_flag(plane: ControlPlane, call: Call) -> Outcome:
    changes = {k: v for k, v in call.args.items() if k in UPDATABLE}
    flag = await plane.flags.update(
        call.args["flag"], reason=call.reason, expected_version=call.expected_version, **changes
    )
    return _flag_outcome(flag, "updated")


async def _delete_flag(plane: ControlPlane, call: Call) -> Outcome:
    name = call.args["flag"]
    version = call.expected_version
    if version is None:
        version = (await plane.flags.get(name)).version
    await plane.flags.delete(name, reason=call.reason, expected_version=version)
    return Outcome(f"flag {name} deleted (it was at version {version})", {"deleted": name})


async def _preview_delete(plane: ControlPlane, call: Call) -> Preview:
    flag = await plane.flags.get(call.args["flag"])
    if call.expected_version is None:
        call.expected_version = flag.version  # deleted only as it was shown
    state = "on" if flag.enabled else "off"
    return Preview(
        f"Delete flag {flag.name} (version {flag.version}, {state}, rollout {flag.rollout})",
        [flag.name],
        "Agents fall back to the flag's default in code.",
        confirm=True,
    )


async def _budget_set(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control.budgets import LIMIT_UNITS, format_limit

    name, value = call.args["limit"], call.args["value"]
    before = getattr(await plane.budgets.get(), name)
    limits = await plane.budgets.set(
        name, value, reason=call.reason, expected_version=call.expected_version
    )
    after = getattr(limits, name)
    return Outcome(
        f"budget {name}: {format_limit(name, before)} -> {format_limit(name, after)} "
        f"({LIMIT_UNITS[name]}), version {limits.version}",
        {"limit": name, "before": before, "value": after, "version": limits.version}
        | {"limits": {k: getattr(limits, k) for k in LIMIT_UNITS}},
    )


def _cap_text(cap: float | None, default: float) -> str:
    """'$500', or the default every tenant has: '$4,000 (tenant_daily_cost_usd)'."""
    if cap:
        return f"${cap:,.2f}".replace(".00", "")
    if default:
        return f"${default:,.2f}".replace(".00", "") + " (tenant_daily_cost_usd)"
    return "none"


async def _tenant_cap(plane: ControlPlane, call: Call) -> Outcome:
    tenant, usd = call.args["tenant"], call.args["value"]
    before, after = await plane.budgets.set_tenant_cap(tenant, usd, reason=call.reason)
    default = (await plane.budgets.get()).tenant_daily_cost_usd
    return Outcome(
        f"daily cap of tenant {text.clean(tenant, 60)}: {_cap_text(before, default)} -> "
        f"{_cap_text(after, default)} (its agents' calls are refused once its day reaches it)",
        {"tenant": tenant, "before": before, "value": after, "default": default},
    )


async def _preview_tenant_cap(plane: ControlPlane, call: Call) -> Preview:
    tenant, value = call.args["tenant"], call.args.get("value")
    cap = (await plane.budgets.tenant_caps([tenant])).get(tenant)
    default = (await plane.budgets.get()).tenant_daily_cost_usd
    now = _cap_text(cap, default)
    if value is None:
        title = f"Daily spend cap of tenant {tenant} (now {now})"
    elif value == 0:
        title = f"Remove the daily spend cap of tenant {tenant} (now {now})"
    else:
        title = f"Cap tenant {tenant} at {_cap_text(value, 0)} a day (now {now})"
    return Preview(
        title,
        [tenant],
        "USD per UTC day: its agents' model calls are refused once its day reaches it; 0 removes "
        "its own cap (tenant_daily_cost_usd applies again).",
    )


async def _reap(plane: ControlPlane, call: Call) -> Outcome:
    removed = await plane.agents.reap(reason=call.reason)
    after = plane.settings.registry.reap_after_seconds
    return Outcome(
        f"reaped {removed} agent{'s' * (removed != 1)} silent for more than {after:g} s",
        {"reaped": removed},
    )


async def _registry_upgrade(plane: ControlPlane, call: Call) -> Outcome:
    moved = await plane.agents.migrate_legacy(reason=call.reason)
    return Outcome(
        f"moved {moved} agent{'s' * (moved != 1)} from the v1 registry into "
        f"{plane.keys.partitions} partitions",
        {"moved": moved},
    )


async def _silence(plane: ControlPlane, call: Call) -> Outcome:
    """Needs the alert and the metrics layer a runbook step carries (``call.context``)."""
    metrics, alert = call.context.get("metrics"), call.context.get("alert")
    if metrics is None or alert is None:
        raise InvalidValue("refused: silencing needs an alert and Alertmanager, not available here")
    silence = getattr(metrics, "silence", None)
    if silence is None:
        raise InvalidValue("refused: this metrics layer cannot create silences")
    seconds = call.args.get("for") or 3600.0
    silence_id = await silence(alert, seconds, call.reason)
    done = f"alert silenced for {text.format_duration(seconds)}"
    return Outcome(f"{done} (silence {silence_id})" if silence_id else done, {"id": silence_id})


# --- the table ------------------------------------------------------------------------------

FOR = option("for", DURATION, "revert after this long (90s, 15m, 2h, 1d)")
DESCRIPTION = option("description", TEXT, "what it is for")
REQUEST_PARAM = Param("request", REQUEST, "the request id (approvals list)", subject="request")
OVERRIDDEN = (  # who an override is for: a context field and its value
    Param("context", CONTEXT_FIELD, "tenant, user, agent or a custom field"),
    Param("value", NAME, "the tenant, user or agent id (any printable text)"),
)
FLAG_PARAM = Param("flag", FLAG, "the flag's name", subject="flag")
DEP_PARAM = Param("dependency", DEPENDENCY, "the dependency", subject="dependency")


async def _resolve_incident(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control.incidents import Incidents

    note = call.args.get("note") or call.reason
    incident = await Incidents(plane).resolve(call.args["incident"], note=note)
    return Outcome(
        f"incident {incident.id} resolved at {text.hms(incident.ended_at)} UTC", incident.to_doc()
    )


async def _preview_decide(plane: ControlPlane, call: Call) -> Preview:
    """After a reset: what a restore (from FILE) or an accept makes the truth, and who adopts it."""
    from agentconsole.control import backup

    status = await plane.reset_status()
    held = status.held_versions if status else {}
    holding = f"{status.agents} agents holding their last snapshot apply it" if status else ""
    if call.op.name == "control.accept":
        title = "Accept the state Redis holds now as the control plane"
        return Preview(title, ["current state"], holding, confirm=True)
    path = call.args["file"]
    data = backup.load(path)
    source = (data.get("epoch") or {}).get("id", "")
    title = (
        f"Restore {path} (epoch {source or 'none'} version {data['version']}, taken "
        f"{text.utc(data.get('taken_at'))} by {data.get('taken_by', '?')})"
    )
    if held.get(source, -1) > data["version"]:
        holding += (
            f"; the agents hold version {held[source]}, newer than this backup: changes "
            "since it are lost"
        )
    return Preview(title, [path], holding.lstrip("; "), confirm=True)


async def _decide(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control import backup

    if call.op.name == "control.accept":
        decision = await backup.accept(plane, reason=call.reason)
        what = "accepted the current state"
    else:
        data = backup.load(call.args["file"])
        decision = await backup.restore(plane, data, reason=call.reason)
        what = f"restored {call.args['file']}"
    said = [f"{what}: new epoch {decision.epoch.id}, control plane version {decision.version}"]
    if decision.kills_kept:
        said.append(f"kept {decision.kills_kept} kills already in force")
    if decision.held:
        said.append("the agents that held their last snapshot now apply it")
    data = {
        "how": decision.how,
        "epoch": decision.epoch.id,
        "version": decision.version,
        "restored": decision.restored,
        "kills_kept": decision.kills_kept,
        "held": decision.held,
    }
    return Outcome("; ".join(said), data)


IMPORT_KINDS = ("create", "update", "delete", "unchanged", "conflict")


async def _import_flags(plane: ControlPlane, call: Call) -> Outcome:
    """A YAML flags file (``flags export``) applied by compare-and-set per flag: all or,
    with a conflict, nothing; ``dry-run`` shows the plan and writes nothing."""
    from pathlib import Path

    from agentconsole.control.flag_files import parse, plan

    a = call.args
    try:
        specs = parse(Path(a["file"]).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidValue(f"cannot read {a['file']}: {exc.strerror or exc}") from None
    flags, problems = await plane.flags.list()
    if problems:
        raise InvalidValue(f"refusing to import while a stored flag is unreadable: {problems[0]}")
    steps = plan(
        {f.name: f for f in flags}, specs, force=a.get("force", False), prune=a.get("prune", False)
    )
    conflicts = [s.name for s in steps if s.kind == "conflict"]
    outcomes: dict[str, str] = {}
    if not a.get("dry_run") and not conflicts:
        outcomes = dict(await plane.flags.import_steps(steps, reason=call.reason))
    failed = [n for n, o in outcomes.items() if o.startswith("not imported")]
    counts = {k: sum(s.kind == k for s in steps) for k in IMPORT_KINDS}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no flags"
    if a.get("dry_run"):
        said = f"dry run: nothing written ({shown})"
    elif conflicts:
        said = (
            f"nothing written: resolve the conflicts ({', '.join(conflicts)}): export again, "
            "or force"
        )
    else:
        said = f"imported: {shown}" + (f"; not imported: {', '.join(failed)}" if failed else "")
    data = {
        "dry_run": bool(a.get("dry_run")),
        "counts": counts,
        "steps": [
            {"flag": s.name, "kind": s.kind, "changes": s.lines, "outcome": outcomes.get(s.name)}
            for s in steps
        ],
    }
    return Outcome(said, data, warning=bool(failed), failed=bool(conflicts or failed))


async def _approve(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control import approvals

    return await approvals.approve(plane, call.args["request"], reason=call.reason)


async def _reject(plane: ControlPlane, call: Call) -> Outcome:
    from agentconsole.control import approvals

    request = await approvals.reject(plane, call.args["request"], reason=call.reason)
    return Outcome(
        f"rejected {request.requested_by}'s request {request.id}: {request.line}", request.doc()
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "kill.agent",
        "stop agents at their next step",
        (Param("agent", AGENT, "agent id", subject="agent", many=True),),
        _kill,
        destructive=True,
        aliases=("kill",),
        preview_fn=_preview_kill,
    ),
    Operation(
        "kill.tenant",
        "stop every agent of a tenant, and new ones",
        (Param("tenant", TENANT, "the tenant", subject="tenant"),),
        _kill,
        destructive=True,
        preview_fn=_preview_kill,
    ),
    Operation(
        "kill.all",
        "global stop: every agent, and new ones",
        (),
        _kill,
        destructive=True,
        aliases=("stop",),
        preview_fn=_preview_kill,
    ),
    Operation(
        "kill.lift",
        "lift a kill so agents of that scope may run again",
        (Param("scope", SCOPE, "agent, tenant or all"), Param("name", NAME, "", optional=True)),
        _lift,
        aliases=("lift",),
        preview_fn=_preview_lift,
        check=_check_lift,
    ),
    *_HOLD_OPERATIONS,
    Operation(
        "breaker.trip",
        "force a breaker open: agents stop calling the dependency",
        (DEP_PARAM, FOR),
        _trip,
        destructive=True,
        aliases=("trip",),
        preview_fn=_preview_breaker,
    ),
    Operation(
        "breaker.force_close",
        "force a breaker closed: agents call the dependency regardless",
        (DEP_PARAM, FOR),
        _force_close,
        destructive=True,
        aliases=("force-close",),
        preview_fn=_preview_breaker,
    ),
    Operation(
        "breaker.reset",
        "back to automatic: the agents' failure counting decides",
        (DEP_PARAM,),
        _reset,
        aliases=("reset",),
        preview_fn=_preview_reset,
    ),
    Operation(
        "flag.create",
        "a new flag (admin)",
        (
            Param("flag", NEW_FLAG, "the new flag's name"),
            option("type", FLAG_TYPE, "release (default), experiment, ..."),
            option("enabled", ON_OFF, "create it switched on", switch=True),
            option("rollout", PERCENT, "percentage in 0.01 steps (100)"),
            option("stickiness", STICKY, "bucketing key (user)"),
            option("group", NAME, "bucketing group (the flag's name)"),
            option("default", ON_OFF, "for agents without a snapshot (off)"),
            DESCRIPTION,
            option("owner", NAME, "who owns it (you)"),
        ),
        _create_flag,
    ),
    Operation(
        "flag.update",
        "allow/deny lists, description, owner, default, stickiness, type, tracking",
        (
            FLAG_PARAM,
            option("allow", KEYS, "keys always on (replaces the list)"),
            option("deny", KEYS, "keys always off (replaces the list)"),
            DESCRIPTION,
            option("owner", NAME, "who owns it"),
            option("default", ON_OFF, "for agents without a snapshot"),
            option("stickiness", STICKY, "bucketing key"),
            option("type", FLAG_TYPE, "release, experiment, operational, kill-switch"),
            option("tracked", ON_OFF, "agents count its runs by variant"),
        ),
        _update_flag,
        check=_check_update,
        versioned=True,
    ),
    Operation(
        "flag.enable",
        "turn a flag on",
        (FLAG_PARAM,),
        _enable,
        aliases=("enable", "on"),
        versioned=True,
    ),
    Operation(
        "flag.disable",
        "turn a flag off (an enabled kill switch: engage it)",
        (FLAG_PARAM,),
        _disable,
        aliases=("disable", "off"),
        preview_fn=_preview_disable,
        versioned=True,
    ),
    Operation(
        "flag.rollout",
        "set a flag's rollout percentage (0.01 steps)",
        (FLAG_PARAM, Param("percent", PERCENT, "0 to 100")),
        _rollout,
        aliases=("rollout",),
        versioned=True,
    ),
    Operation(
        "flag.override",
        "serve one variant to a tenant, user, agent or custom field value",
        (
            FLAG_PARAM,
            *OVERRIDDEN,
            Param("variant", VARIANT, "the variant to serve"),
        ),
        flag_ops.override,
        aliases=("override",),
    ),
    Operation(
        "flag.override_clear",
        "remove an override: that value is served by weight again",
        (
            FLAG_PARAM,
            *OVERRIDDEN,
        ),
        flag_ops.clear_override,
        permission="flag.override",
    ),
    Operation(
        "tenant.move",
        "move this tenant to a variant of a flag (e.g. a cheaper model)",
        (
            Param("tenant", TENANT, "the tenant", subject="tenant"),
            Param("flag", FLAG, "the flag with the variants"),
            Param("variant", VARIANT, "the variant to serve the tenant"),
        ),
        flag_ops.move_tenant,
        destructive=True,
        aliases=("move",),
        preview_fn=flag_ops.preview_move,
    ),
    Operation(
        "flag.variants",
        "set a flag's variants (replaces the list; overrides and payloads of kept ones stay)",
        (
            FLAG_PARAM,
            Param("variants", VARIANT_SPEC, "e.g. standard=100 cheap=0:gpt-4o-mini", many=True),
            option("type", VALUE_TYPE, "the payloads' type"),
            option("sticky", STICKY, "variant stickiness"),
        ),
        flag_ops.variants,
        aliases=("variants",),
    ),
    Operation(
        "flag.weights",
        "change variant weights (the others keep theirs)",
        (FLAG_PARAM, Param("weights", WEIGHT, "e.g. standard=90 cheap=10", many=True)),
        flag_ops.weights,
        aliases=("weights",),
        permission="flag.variants",
    ),
    Operation(
        "flag.payload",
        "change one variant's payload (checked against the flag's value type)",
        (
            FLAG_PARAM,
            Param("variant", VARIANT, "the variant"),
            Param("value", PAYLOAD, "text, a number or JSON, as the flag declares"),
        ),
        flag_ops.payload,
        permission="flag.variants",
    ),
    Operation(
        "flag.constrain",
        "set a flag's constraints (replaces them), e.g. 'region IN eu,us'",
        (FLAG_PARAM, Param("constraints", CONSTRAINT, "FIELD [NOT] OP VALUES", many=True)),
        flag_ops.constrain,
        permission="flag.constraints",
    ),
    Operation(
        "flag.unconstrain",
        "remove every constraint of a flag",
        (FLAG_PARAM,),
        flag_ops.unconstrain,
        permission="flag.constraints",
    ),
    Operation(
        "rollout.create",
        "put a flag under a guarded rollout plan (docs/rollouts.md)",
        (
            FLAG_PARAM,
            Param("steps", STEPS, "percentages rising to 100, e.g. 1,5,25,50,100"),
            Param("hold", DURATION, "how long each step stays green before the next"),
            Param("guards", GUARD, "e.g. error_rate:+0.5pt p99:+20%", many=True),
            option("window", DURATION, "longest history a guard reads"),
            option("min_runs", RUNS, "runs needed on each side"),
            option("on_regression", REGRESSION, "pause, rollback, last-good"),
            option("confidence", CONFIDENCE, "of the rate tests (0.95)"),
        ),
        rollout_ops.create,
        aliases=("plan",),
    ),
    Operation(
        "rollout.start",
        "start a flag's plan: the canary gets the first step",
        (FLAG_PARAM,),
        rollout_ops.start,
    ),
    Operation(
        "rollout.pause",
        "pause a flag's plan: it stays where it is",
        (FLAG_PARAM,),
        rollout_ops.pause,
    ),
    Operation(
        "rollout.resume",
        "resume a paused plan at its step, with a fresh hold",
        (FLAG_PARAM,),
        rollout_ops.resume,
    ),
    Operation(
        "rollout.advance",
        "next step of a plan now, without waiting for its hold and guards",
        (FLAG_PARAM,),
        rollout_ops.advance,
        destructive=True,
        preview_fn=rollout_ops.preview_advance,
    ),
    Operation(
        "rollout.abort",
        "end a flag's plan and take the flag back to 0 %",
        (FLAG_PARAM,),
        rollout_ops.abort,
        destructive=True,
        preview_fn=rollout_ops.preview_abort,
    ),
    Operation(
        "flag.import",
        "apply a YAML flags file (flags export): compare-and-set per flag, all or nothing",
        (
            Param("file", PATH, "the file (flags export wrote it)"),
            option("dry_run", ON_OFF, "show the plan, change nothing", switch=True),
            option("force", ON_OFF, "take each flag at its current version", switch=True),
            option("prune", ON_OFF, "also delete the flags the file does not name", switch=True),
        ),
        _import_flags,
    ),
    Operation(
        "flag.delete",
        "remove a flag (agents fall back to its default)",
        (FLAG_PARAM,),
        _delete_flag,
        destructive=True,
        preview_fn=_preview_delete,
        versioned=True,
    ),
    Operation(
        "budget.set",
        "change one budget limit, live",
        (Param("limit", BUDGET, "the limit's name"), Param("value", NUMBER, "0 or more")),
        _budget_set,
        versioned=True,
    ),
    Operation(
        "budget.tenant",
        "set one tenant's daily spend cap in USD (0: back to tenant_daily_cost_usd)",
        (
            Param("tenant", TENANT, "the tenant", subject="tenant"),
            Param("value", NUMBER, "USD per day, 0 removes it"),
        ),
        _tenant_cap,
        aliases=("cap",),
        preview_fn=_preview_tenant_cap,
    ),
    Operation("agent.reap", "forget agents silent for longer than the reap interval", (), _reap),
    Operation(
        "registry.upgrade",
        "move a registry written by the previous (v1) layout into partitions",
        (),
        _registry_upgrade,
    ),
    Operation(
        "silence.create",
        "silence the alert a runbook is for",
        (Param("for", DURATION, "how long (at most 30 days)", keyword="for"),),
        _silence,
        aliases=("silence",),
    ),
    Operation(
        "control.restore",
        "after a reset: write a backup (agentconsole backup) back under a new epoch",
        (Param("file", PATH, "a file written by `agentconsole backup`"),),
        _decide,
        destructive=True,
        preview_fn=_preview_decide,
    ),
    Operation(
        "control.accept",
        "after a reset: keep the state Redis holds now (even empty) under a new epoch",
        (),
        _decide,
        destructive=True,
        preview_fn=_preview_decide,
    ),
    Operation(
        "incident.resolve",
        "mark an incident resolved (its end time)",
        (
            Param("incident", INCIDENT, "the incident id (incidents list)", subject="incident"),
            option("note", TEXT, "what resolved it (audited; default: the reason)"),
        ),
        _resolve_incident,
        permission="runbook.step",  # its audit entry is a step of the incident's runbook
    ),
    Operation(
        "approval.approve",
        "approve another operator's four-eyes request, which runs it",
        (REQUEST_PARAM,),
        _approve,
        aliases=("approve",),
    ),
    Operation(
        "approval.reject",
        "refuse another operator's four-eyes request",
        (REQUEST_PARAM,),
        _reject,
        aliases=("reject",),
    ),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
BY_LENGTH = sorted(OPERATIONS, key=lambda op: -len(op.words))
VERBS = tuple(op.verb for op in OPERATIONS)


def get(name: str) -> Operation:
    """The operation called ``name`` ("breaker.trip" or "breaker trip")."""
    key = name.strip().lower().replace(" ", ".").replace("-", "_")
    try:
        return BY_NAME[key]
    except KeyError:
        raise InvalidValue(
            f"unknown operation {text.quoted(name, 30)} (known: {', '.join(VERBS)})"
        ) from None
