"""The action language of ```action blocks: parse (for lint), render (with values as
data), execute (through the same ControlPlane methods the CLI uses).

One action per line. The verb is always literal text from the runbook; a template can
only fill a whole argument, and the rendered value must match that argument's strict
pattern, so a label value holding spaces, newlines, markup or another action is refused,
never spliced in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control.kills import target_for as kill_target
from agentconsole.runbook.template import TEMPLATE_RE, TOKEN_RE, Values, check_var, display

if TYPE_CHECKING:
    from agentconsole.control.audit import AuditEntry
    from agentconsole.control.plane import ControlPlane

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TOKEN_SCAN = re.compile(r"(?:\{\{.*?\}\}|[^\s{]+|\{)+")


class ActionError(ValueError):
    """An action line that is not valid (lint) or cannot be rendered safely (runtime)."""


class NeedsInput(ActionError):
    """The action uses ``{{ input.x }}`` values the operator has not typed yet."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"needs input: {', '.join(names)}")
        self.names = names


@dataclass(frozen=True)
class Grammar:
    words: tuple[str, ...]
    params: tuple[str, ...]  # kinds: name, percent, number, budget, duration
    action: str  # the REQUIRED_ROLE action the control plane checks
    usage: str
    timed: bool = False  # accepts a trailing "for DURATION"


GRAMMAR = (
    Grammar(
        ("breaker", "trip"), ("name",), "breaker.trip", "breaker trip DEPENDENCY [for 15m]", True
    ),
    Grammar(("breaker", "reset"), ("name",), "breaker.reset", "breaker reset DEPENDENCY"),
    Grammar(
        ("breaker", "force-close"),
        ("name",),
        "breaker.force_close",
        "breaker force-close DEPENDENCY [for 15m]",
        True,
    ),
    Grammar(("flag", "enable"), ("name",), "flag.enable", "flag enable FLAG"),
    Grammar(("flag", "disable"), ("name",), "flag.disable", "flag disable FLAG"),
    Grammar(("flag", "rollout"), ("name", "percent"), "flag.rollout", "flag rollout FLAG PERCENT"),
    Grammar(("kill", "agent"), ("name",), "kill.agent", "kill agent AGENT_ID"),
    Grammar(("kill", "tenant"), ("name",), "kill.tenant", "kill tenant TENANT"),
    Grammar(("kill", "all"), (), "kill.all", "kill all"),
    Grammar(("kill", "clear", "agent"), ("name",), "kill.clear", "kill clear agent AGENT_ID"),
    Grammar(("kill", "clear", "tenant"), ("name",), "kill.clear", "kill clear tenant TENANT"),
    Grammar(("kill", "clear", "all"), (), "kill.clear", "kill clear all"),
    Grammar(("budget", "set"), ("budget", "number"), "budget.set", "budget set LIMIT VALUE"),
    Grammar(("silence", "alert"), (), "silence.create", "silence alert for 1h", True),
)
VERBS = ", ".join(dict.fromkeys(" ".join(g.words[:2]) for g in GRAMMAR))
BY_LENGTH = sorted(GRAMMAR, key=lambda g: -len(g.words))


@dataclass(frozen=True)
class Token:
    text: str
    var: str | None = None  # checked variable path when the token is one template

    @property
    def is_template(self) -> bool:
        return self.var is not None


@dataclass
class ActionSpec:
    """One parsed (not yet rendered) action line."""

    line: int
    source: str
    grammar: Grammar
    args: list[Token]
    duration: Token | None = None


@dataclass
class RenderedAction:
    """An action with every value filled in and checked; ``text`` is what the operator
    confirms, and exactly what will be executed."""

    spec: ActionSpec
    action: str
    args: list[str]
    duration_s: float | None
    text: str
    duration: str | None = None  # as written, e.g. "15m"


@dataclass
class ActionResult:
    text: str
    message: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    audit: list[AuditEntry] = field(default_factory=list)


def tokenize(line: str) -> list[Token]:
    tokens = []
    for m in TOKEN_SCAN.finditer(line):
        text = m.group(0)
        whole = TEMPLATE_RE.fullmatch(text)
        if whole:
            var = check_var(whole.group(1))
            if var is None:
                from agentconsole.runbook.template import unknown_message

                raise ActionError(unknown_message(whole.group(1)))
            tokens.append(Token(text, var))
        elif "{{" in text:
            raise ActionError(
                f"a template must be a whole argument, not part of {display(text, 40)!r}"
            )
        else:
            tokens.append(Token(text))
    return tokens


def parse_line(source: str, line: int = 0) -> ActionSpec:
    """Parse one action line; raises ActionError with a message fit for lint."""
    tokens = tokenize(source.strip())
    if any(t.is_template for t in tokens[:2]):
        raise ActionError("the action verb must be written out, not come from a template")
    said = [t.text.lower() if not t.is_template else "" for t in tokens]
    grammar = next(
        (g for g in BY_LENGTH if tuple(said[: len(g.words)]) == g.words),
        None,
    )
    if grammar is None:
        raise ActionError(f"unknown action {' '.join(said[:2])!r} (known: {VERBS})")
    words = grammar.words
    rest = tokens[len(words) :]
    duration = None
    if grammar.timed and len(rest) >= 2 and not rest[-2].is_template and rest[-2].text == "for":
        duration, rest = rest[-1], rest[:-2]
    if len(rest) != len(grammar.params):
        raise ActionError(f"bad arguments for {' '.join(words)}: usage: {grammar.usage}")
    if grammar.action == "silence.create" and duration is None:
        raise ActionError(f"bad arguments for silence: usage: {grammar.usage}")
    for kind, token in zip(grammar.params, rest, strict=True):
        if not token.is_template:
            _check(kind, token.text)
    if duration is not None and not duration.is_template:
        _check("duration", duration.text)
    return ActionSpec(line, source.strip(), grammar, rest, duration)


def _check(kind: str, value: str) -> str:
    """Validate one argument value; returns it normalised. Raises ActionError."""
    shown = display(value, 60)
    if kind == "name":
        if not TOKEN_RE.match(value):
            raise ActionError(f"{shown!r} is not a plain name (letters, digits, . _ : -)")
        return value
    if kind == "duration":
        if not DURATION_RE.match(value):
            raise ActionError(f"{shown!r} is not a duration like 30s, 15m, 2h or 1d")
        return value
    if kind == "budget":
        from agentconsole.control.budgets import normalise_name
        from agentconsole.control.errors import InvalidValue

        if not TOKEN_RE.match(value):
            raise ActionError(f"{shown!r} is not a budget name")
        try:
            return normalise_name(value)
        except InvalidValue as exc:
            raise ActionError(f"{shown!r}: {exc}") from None
    number = value[:-1] if kind == "percent" and value.endswith("%") else value
    try:
        parsed = float(number)
    except ValueError:
        raise ActionError(f"{shown!r} is not a number") from None
    if parsed != parsed or parsed < 0 or (kind == "percent" and parsed > 100):
        limit = "between 0 and 100" if kind == "percent" else "zero or more"
        raise ActionError(f"{shown!r} must be {limit}")
    return number


def seconds(duration: str) -> float:
    m = DURATION_RE.match(duration)
    if not m:
        raise ActionError(f"{duration!r} is not a duration")
    return float(m.group(1)) * UNITS[m.group(2)]


def render(spec: ActionSpec, values: Values) -> RenderedAction:
    """Fill in the values; refuse (ActionError) when one is missing or not a strict token."""

    def value(kind: str, token: Token) -> str:
        if not token.is_template:
            return _check(kind, token.text)
        got = values.lookup(token.var or "")
        if got is None:
            raise ActionError(
                f"refused: needs {{{{ {token.var} }}}}, which this alert does not have"
            )
        try:
            return _check(kind, got)
        except ActionError as exc:
            raise ActionError(f"refused: {token.var} = {exc}") from None

    missing = [
        t.var.split(".", 1)[1]
        for t in (*spec.args, *([spec.duration] if spec.duration else []))
        if t.var and t.var.startswith("input.") and values.lookup(t.var) is None
    ]
    if missing:
        raise NeedsInput(missing)
    args = [value(k, t) for k, t in zip(spec.grammar.params, spec.args, strict=True)]
    duration = value("duration", spec.duration) if spec.duration else None
    words = list(spec.grammar.words) + args + (["for", duration] if duration else [])
    return RenderedAction(
        spec,
        spec.grammar.action,
        args,
        seconds(duration) if duration else None,
        " ".join(words),
        duration,
    )


async def execute(
    action: RenderedAction,
    plane: ControlPlane,
    *,
    reason: str,
    metrics: Any = None,
    alert: Any = None,
) -> ActionResult:
    """Run a rendered action through the control plane; the role is checked there and the
    change is audited atomically with it. Returns before/after from the audit entry."""
    last = await _last_audit_id(plane)
    name = action.action
    args = action.args
    message = ""
    if name == "breaker.trip":
        mode = await plane.breakers.trip(args[0], for_seconds=action.duration_s, reason=reason)
        message = f"breaker {args[0]} forced open" + _until(mode.until)
    elif name == "breaker.force_close":
        mode = await plane.breakers.force_close(
            args[0], for_seconds=action.duration_s, reason=reason
        )
        message = f"breaker {args[0]} forced closed" + _until(mode.until)
    elif name == "breaker.reset":
        await plane.breakers.reset(args[0], reason=reason)
        message = f"breaker {args[0]} back to automatic"
    elif name == "flag.enable":
        await plane.flags.enable(args[0], reason=reason)
        message = f"flag {args[0]} enabled"
    elif name == "flag.disable":
        await plane.flags.disable(args[0], reason=reason)
        message = f"flag {args[0]} disabled"
    elif name == "flag.rollout":
        flag = await plane.flags.set_rollout(args[0], args[1], reason=reason)
        message = f"flag {args[0]} rollout {flag.rollout}"
    elif name == "kill.clear":
        scope = action.spec.grammar.words[2]
        target = kill_target(**({"everything": True} if scope == "all" else {scope: args[0]}))
        await plane.kills.clear(target, reason=reason)
        message = f"kill {target} lifted: new runs in that scope may start again"
    elif name.startswith("kill."):
        scope = name.split(".", 1)[1]  # agent | tenant | all: the kill() keyword names
        kwargs: dict[str, Any] = {"everything": True} if scope == "all" else {scope: args[0]}
        outcome = await plane.kills.kill(reason=reason, **kwargs)
        count = len(outcome.agents)
        if outcome.created:
            message = f"kill {outcome.target}: stop sent to {count} running agent(s)"
            if count == 0:  # not a failure: the kill is in force, say so
                message += "; none was running, the kill stays in force for new runs"
        else:
            by = outcome.kill.get("requester", "?")
            message = f"kill {outcome.target} was already in force (by {by}); nothing changed"
    elif name == "budget.set":
        await plane.budgets.set(args[0], args[1], reason=reason)
        message = f"budget {args[0]} set to {args[1]}"
    elif name == "silence.create":
        message = await _silence(action, plane, metrics, alert, reason)
    else:  # pragma: no cover - GRAMMAR and this table are kept in step by tests
        raise ActionError(f"no executor for {name}")
    entries = [
        e
        for e in await plane.audit.after(last)
        if e.actor == plane.operator.name and e.action == name
    ]
    entry = entries[-1] if entries else None
    return ActionResult(
        action.text,
        message,
        entry.before if entry else None,
        entry.after if entry else None,
        entries,
    )


async def _silence(
    action: RenderedAction, plane: ControlPlane, metrics: Any, alert: Any, reason: str
) -> str:
    plane.operator.require("silence.create")
    if metrics is None or alert is None:
        raise ActionError("refused: silencing needs an alert and Alertmanager, not available here")
    silence = getattr(metrics, "silence", None)
    if silence is None:
        raise ActionError("refused: this metrics layer cannot create silences")
    silence_id = await silence(alert, action.duration_s or 3600, reason)
    done = f"alert silenced for {action.duration or '1h'}"
    return f"{done} (silence {silence_id})" if silence_id else done


def _until(until: float | None) -> str:
    if not until:
        return ""
    import time

    return f" until {time.strftime('%H:%M:%S', time.localtime(until))}"


async def _last_audit_id(plane: ControlPlane) -> str:
    rows = await plane.redis.xrevrange(plane.keys.audit, count=1)
    if not rows:
        return "0-0"
    entry_id = rows[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
