"""The action language of ```action blocks: the operations table's verbs and grammar.

One action per line, written as on the console's ``:`` line: ``breaker trip openai for 15m``,
``kill tenant "Acme Corp"``, ``kill lift all``. The verb and its parameters come from
``control/operations.py`` and values are parsed by ``agentconsole.text``, so an action
accepts and refuses exactly what the CLI and the console do. The verb is always literal
text from the runbook; a template can only fill a whole argument, and its rendered value is
parsed as that argument's type, so a label value holding newlines, markup or another
action is refused, never spliced in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue
from agentconsole.runbook.template import TEMPLATE_RE, Values, check_var, display

if TYPE_CHECKING:
    from agentconsole.control.audit import AuditEntry
    from agentconsole.control.plane import ControlPlane

# a quoted string, or a run of templates and plain characters
TOKEN_SCAN = re.compile(r'"(?:[^"\\]|\\.)*"|(?:\{\{.*?\}\}|[^\s{"]+|\{)+')
ACK_WAIT = 2.0  # seconds a kill from a runbook waits for acknowledgements, as the CLI


class ActionError(ValueError):
    """An action line that is not valid (lint) or cannot be rendered safely (runtime)."""


class NeedsInput(ActionError):
    """The action uses ``{{ input.x }}`` values the operator has not typed yet."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"needs input: {', '.join(names)}")
        self.names = names


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
    op: ops.Operation
    args: dict[str, Any]  # parameter name -> Token (or a list of them)


@dataclass
class RenderedAction:
    """An action with every value filled in and parsed; ``text`` is what the operator
    confirms, and exactly what will be executed."""

    spec: ActionSpec
    action: str  # the operation's name
    args: dict[str, Any]
    text: str


@dataclass
class ActionResult:
    text: str
    message: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    warning: bool = False


def tokenize(line: str) -> list[Token]:
    tokens = []
    for m in TOKEN_SCAN.finditer(line):
        text = m.group(0)
        if text.startswith('"'):
            tokens.append(Token(re.sub(r"\\(.)", r"\1", text[1:-1])))
            continue
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


def _literal(token: Token) -> str | None:
    return None if token.is_template else token.text


def parse_line(source: str, line: int = 0) -> ActionSpec:
    """Parse one action line; raises ActionError with a message fit for lint."""
    tokens = tokenize(source.strip())
    if tokens and tokens[0].is_template:
        raise ActionError("the action verb must be written out, not come from a template")
    found = ops.match([_literal(t) for t in tokens])
    if found is None:
        said = " ".join(t.text.lower() for t in tokens[:2])
        raise ActionError(f"unknown action {said!r} (known: {', '.join(ops.VERBS)})")
    op, n = found
    try:
        bound = ops.bind(op, tokens[n:], _literal)
    except InvalidValue as exc:
        raise ActionError(str(exc)) from None
    spec = ActionSpec(line, source.strip(), op, bound)
    literal = {k: _raw(v) for k, v in bound.items() if _is_literal(v)}
    for p in op.params:  # literal values are checked now (lint); templates when rendered
        if p.name not in bound and not p.optional:
            raise ActionError(f"bad arguments for {op.verb}: usage: {op.usage}")
        if p.name in literal:
            try:
                p.parse(literal[p.name])
            except InvalidValue as exc:
                raise ActionError(f"{exc} (usage: {op.usage})") from None
    return spec


def _is_literal(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return all(not t.is_template for t in items)


def _raw(value: Any) -> Any:
    return [t.text for t in value] if isinstance(value, list) else value.text


def render(spec: ActionSpec, values: Values) -> RenderedAction:
    """Fill in the values; refuse (ActionError) when one is missing or does not parse."""
    items = [t for v in spec.args.values() for t in (v if isinstance(v, list) else [v]) if t.var]
    missing = [
        t.var.split(".", 1)[1]
        for t in items
        if t.var and t.var.startswith("input.") and values.lookup(t.var) is None
    ]
    if missing:
        raise NeedsInput(missing)

    def value(token: Token) -> str:
        if not token.is_template:
            return token.text
        got = values.lookup(token.var or "")
        if got is None:
            raise ActionError(
                f"refused: needs {{{{ {token.var} }}}}, which this alert does not have"
            )
        return got

    raw: dict[str, Any] = {}
    for name, v in spec.args.items():
        raw[name] = [value(t) for t in v] if isinstance(v, list) else value(v)
    try:
        call = spec.op.call(raw)
    except InvalidValue as exc:
        templated = [t.var for t in items]
        prefix = f"refused: {templated[0]} = " if templated else ""
        raise ActionError(prefix + str(exc)) from None
    return RenderedAction(spec, spec.op.name, call.args, call.line)


async def execute(
    action: RenderedAction,
    plane: ControlPlane,
    *,
    reason: str,
    metrics: Any = None,
    alert: Any = None,
) -> ActionResult:
    """Run a rendered action through the operations table; the role is checked there and
    the change is audited atomically with it. Returns before/after from the audit entry."""
    op = action.spec.op
    call = ops.Call(
        op,
        dict(action.args),
        reason=reason,
        wait=ACK_WAIT,
        context={"metrics": metrics, "alert": alert},
    )
    last = await plane.audit.last_id()
    try:
        outcome = await op.run(plane, call)
    except InvalidValue as exc:
        if str(exc).startswith("refused:"):
            raise ActionError(str(exc)) from None
        raise
    entries = [
        e
        for e in await plane.audit.after(last)
        if e.actor == plane.operator.name and e.action == op.name
    ]
    entry = entries[-1] if entries else None
    return ActionResult(
        action.text,
        outcome.text,
        entry.before if entry else None,
        entry.after if entry else None,
        entries,
        outcome.warning,
    )
