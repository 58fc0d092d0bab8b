"""The console's side of the operations table: requests from views, confirmation, the toast.

Views never call up into the app: a key posts :class:`OperationRequested` with what the
selected row fills in (``{"agent": [ids]}``, ``{"dependency": "openai"}``), and a
:class:`Notice` for anything else worth a toast ("no flag selected"). The app hands an
OperationRequested to :class:`ConsoleOperations`, which

1. drops it when the operation is not available (read-only, role, refused by Redis): such
   operations are absent from keys, footer, palette and ``:`` line, never merely refused;
2. asks the table for a preview (the exact targets: the agents a tenant kill stops, also
   those a filter hides) and opens the one :class:`ConfirmScreen`: every change asks for
   a reason, a destructive one is marked so and names its targets;
3. runs the operation on the backend's I/O loop and toasts its Outcome's text, which is
   the same sentence the CLI prints and a runbook step shows.

An operation whose dialog needs more than its parameters (the weights now and a preview of
the split, a plan's default line, the variants a tenant can move to) has an *asker*
(:data:`ASKERS`): an async function that reads what it needs with the preview and returns
an :class:`Ask` - fields prefilled, a live hint, a check, the rest asked as one line in
the ``:`` grammar, choices picked first (:class:`~agentconsole.tui.modals.ChoiceScreen`),
or a refusal said instead of a dialog. The dialog is still the one ConfirmScreen.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from agentconsole import text
from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue
from agentconsole.tui.modals import ChoiceScreen, ConfirmScreen, Decision, Field

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend

FIELD_IDS = {"for": "duration"}  # widget ids the tests and keymaps know
LINE = "line"  # the field id of "the rest of the parameters, as on the : line"
MAX_FIELDS = 3  # more parameters to ask than this: one line (a dialog fits 24 rows)


class Notice(Message):
    """A view's word for the operator ("no flag selected"): the app toasts it."""

    def __init__(self, text: str, severity: str = "information", title: str = "") -> None:
        super().__init__()
        self.text, self.severity, self.title = text, severity, title


class OperationRequested(Message):
    """A view (or the palette, or the ``:`` line) asks for an operation of the table."""

    def __init__(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.args = dict(args or {})
        self.expected_version = expected_version
        self.after = after


@dataclass
class Ask:
    """What one operation's dialog adds to its parameters (see the module's docstring).

    ``prefill``: parameter name -> starting text. ``hint(values)``: a line under the fields,
    live. ``check(values)``: a refusal before the dialog closes (None: fine). ``line``: ask
    every missing parameter as one line, starting with this text (``line_help`` says the
    grammar). ``choices``: (label, arguments) pairs, one picked before the dialog.
    ``refusal``: said instead of opening anything. ``title``, ``detail``: instead of the
    preview's.
    """

    prefill: dict[str, str] = field(default_factory=dict)
    hint: Callable[[dict[str, str]], str] | None = None
    check: Callable[[dict[str, str]], str | None] | None = None
    line: str | None = None
    line_help: str = ""
    choices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    choice_title: str = ""
    refusal: str = ""
    title: str = ""
    detail: str = ""  # instead of the preview's (the line's grammar, when it is prefilled)


Asker = Callable[["ControlPlane", ops.Call], Awaitable[Ask]]


def asker(name: str) -> Asker | None:
    """The asker of operation ``name``, if its dialog needs one."""
    from agentconsole.tui import flag_weights, rollout_panel, tenant_move

    askers: dict[str, Asker] = {
        "flag.rollout": _ask_rollout,
        flag_weights.OP: flag_weights.ask,
        "rollout.create": rollout_panel.ask,
        tenant_move.OP: tenant_move.ask,
    }
    return askers.get(name)


def field_id(param: ops.Param) -> str:
    return FIELD_IDS.get(param.name, param.name)


def button_label(op: ops.Operation) -> str:
    """'Kill' for kill agent/tenant/all, 'Cap' for budget tenant (its short verb), else the
    last word: 'Trip', 'Force close', 'Lift'."""
    if op.name == "budget.tenant":
        return "Cap"
    word = op.words[0] if op.words[-1] in ("agent", "tenant", "all") else op.words[-1]
    return word.replace("-", " ").capitalize()


def preview_count(flag: Any, rollout_bp: int, keys: list[str]) -> int:
    """How many of ``keys`` a rollout of ``rollout_bp`` puts in the canary (flag on)."""
    probe = dataclasses.replace(flag, enabled=True, rollout_bp=rollout_bp)
    return sum(1 for k in keys if probe.evaluate(k))


class ConsoleOperations:
    """Runs table operations for one console; owned by the app, stateless between calls."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    def available(self, op: ops.Operation) -> bool:
        return self.app.allowed(op.permission)

    def request(self, message: OperationRequested) -> None:
        try:
            op = ops.get(message.name)
        except InvalidValue as exc:
            self.app.toast(str(exc), severity="warning")
            return
        if not self.available(op):
            return  # absent: read-only, role, or refused by Redis before
        given = {k: v for k, v in message.args.items() if v not in (None, "", [])}
        try:
            for p in op.params:
                if p.name in given:
                    p.parse(given[p.name])
        except InvalidValue as exc:
            self.app.toast(str(exc), severity="warning")
            return
        self.app.run_worker(self._prepare(op, given, message), group="action", exit_on_error=False)

    async def _prepare(
        self, op: ops.Operation, given: dict[str, Any], message: OperationRequested
    ) -> None:
        partial = ops.Call(op, _parsed(op, given), expected_version=message.expected_version)
        ask_for = asker(op.name)

        async def load(backend: Backend) -> tuple[ops.Preview | None, Ask]:
            plane = backend.plane()
            ask = await ask_for(plane, partial) if ask_for is not None else Ask()
            if ask.refusal or ask.choices:
                return None, ask  # nothing to preview yet
            return await op.preview(plane, partial), ask

        try:
            preview, ask = await self.app.backend.run(load)
        except Exception as exc:
            self.app.report(exc, f"preparing {partial.line}", op.permission)
            return
        if ask.refusal:
            self.app.toast(ask.refusal, severity="warning")
            return
        if preview is None:
            self._choose(op, given, message, ask)
            return
        if message.expected_version is None:
            message.expected_version = partial.expected_version  # what the preview showed
        self.app.push_screen(
            self._dialog(op, given, preview, ask), self._closed(op, given, message)
        )

    def _choose(
        self, op: ops.Operation, given: dict[str, Any], message: OperationRequested, ask: Ask
    ) -> None:
        """Pick one of the asker's choices, then prepare again with its arguments."""

        def picked(index: int | None) -> None:
            if index is not None:
                args = given | ask.choices[index][1]
                again = OperationRequested(
                    op.name, args, expected_version=message.expected_version, after=message.after
                )
                self.request(again)
            self.app.resume_refresh()

        title = ask.choice_title or op.summary
        self.app.push_screen(ChoiceScreen(title, [label for label, _ in ask.choices]), picked)

    def _dialog(
        self, op: ops.Operation, given: dict[str, Any], preview: ops.Preview, ask: Ask
    ) -> ConfirmScreen:
        """The one confirmation: every change asks for a reason (the audit says why, not only
        who); a harmless one in a plain dialog whose reason field confirms with Enter."""
        asks = [p for p in op.params if p.name not in given and not p.subject]
        asks = [p for p in asks if _may_take(op, given, p)]
        if ask.line is None and len(asks) > MAX_FIELDS:  # flag create: one line, as on `:`
            written = ops.usage(asks)
            ask = dataclasses.replace(ask, line="", line_help=written, detail=f"as on : {written}")
        detail = ask.detail or preview.detail
        # the Agents view's filter: from another view (Spend, Overview) every target is
        # "not loaded" there, which would read as a warning about nothing
        if op.name.startswith("kill.") and preview.targets and self.app.current == "agents":
            hidden = len(set(preview.targets) - self.app.agents_painted())
            if hidden:
                detail = f"{hidden} of them hidden by the current filter or not loaded. " + detail
        if ask.line is not None:
            fields: tuple[Field, ...] = (Field(LINE, ask.line_help, ask.line),)
        else:
            fields = tuple(
                Field(field_id(p), _placeholder(p), ask.prefill.get(p.name, "")) for p in asks
            )

        def validate(values: dict[str, str]) -> str | None:
            try:
                op.parse_args(_merge(op, given, values))
            except InvalidValue as exc:
                return str(exc)
            return ask.check(values) if ask.check is not None else None

        return ConfirmScreen(
            ask.title or preview.title,
            preview.targets,
            detail=detail,
            verb=button_label(op),
            fields=fields,
            validate=validate,
            hint=ask.hint,
            destructive=preview.confirm,
        )

    def _closed(
        self, op: ops.Operation, given: dict[str, Any], message: OperationRequested
    ) -> Callable[[Decision | None], None]:
        def done(decision: Decision | None) -> None:
            if decision is not None:
                self._confirmed(op, given, message, decision)
            self.app.resume_refresh()

        return done

    def _confirmed(
        self,
        op: ops.Operation,
        given: dict[str, Any],
        message: OperationRequested,
        decision: Decision,
    ) -> None:
        try:
            call = op.call(
                _merge(op, given, decision.values),
                reason=decision.reason,
                wait=self.app.options.ack_timeout,
                expected_version=message.expected_version,
            )
        except InvalidValue as exc:
            self.app.toast(str(exc), severity="warning")
            return
        self.app.run_worker(self._run(call, message), group="action", exit_on_error=False)

    async def _run(self, call: ops.Call, message: OperationRequested) -> None:
        async def go(backend: Backend) -> ops.Outcome:
            return await call.op.run(backend.plane(), call)

        try:
            outcome = await self.app.backend.run(go)
        except Exception as exc:
            self.app.report(exc, call.line, call.op.permission)
        else:
            self.app.toast(outcome.text, severity="warning" if outcome.warning else "information")
            self.app.poll_now()
        if message.after is not None:
            message.after()


def _parsed(op: ops.Operation, given: Mapping[str, Any]) -> dict[str, Any]:
    by_name = {p.name: p for p in op.params}
    return {k: by_name[k].parse(v) for k, v in given.items() if k in by_name}


def _merge(op: ops.Operation, given: Mapping[str, Any], values: Mapping[str, str]) -> dict:
    """The selected row's arguments plus what was typed: one field per parameter (a
    ``many`` one split into words), or the rest as one line in the ``:`` grammar."""
    merged = dict(given)
    if LINE in values:
        try:
            tokens = shlex.split(values[LINE])
        except ValueError as exc:
            raise InvalidValue(f"cannot read {text.quoted(values[LINE])}: {exc}") from None
        merged.update(ops.bind(op, tokens, lambda w: w, given=given))
        return merged
    for p in op.params:
        typed = values.get(field_id(p), "").strip()
        if typed:
            merged[p.name] = typed.split() if p.many else typed
    return merged


def _may_take(op: ops.Operation, given: Mapping[str, Any], p: ops.Param) -> bool:
    """Whether the dialog asks optional ``p``: not when the call is complete without it and
    the table's own rule refuses it (``pause lift all`` takes no name: no "name" field)."""
    if not p.optional or op.check is None:
        return True
    try:
        args = op.parse_args(given)
        probe = p.parse(["x"] if p.many else "x")
    except InvalidValue:
        return True  # incomplete, or no probe of this kind: ask
    try:
        op.check({**args, p.name: probe})
    except InvalidValue:
        return False
    return True


def _placeholder(p: ops.Param) -> str:
    if p.kind is ops.DURATION:
        return "for how long: e.g. 10m, 1h, 1d" + (" (empty: until reset)" if p.optional else "")
    if p.kind is ops.PERCENT:
        return "new percentage, e.g. 25 or 2.5"
    return f"{p.name}: {p.help}" if p.help else p.name


async def recent_keys(plane: ControlPlane, stickiness: str) -> list[str]:
    """The users, tenants or agents (by ``stickiness``) of the recent agents: who a preview
    of a rollout or of new weights counts."""
    agents = await plane.agents.list(limit=2000)
    attr = {"user": "user", "tenant": "tenant"}.get(stickiness, "id")
    return sorted({getattr(a, attr) for a in agents if getattr(a, attr)})


def plural(stickiness: str) -> str:
    return {"user": "users", "tenant": "tenants"}.get(stickiness, "agents")


async def _ask_rollout(plane: ControlPlane, call: ops.Call) -> Ask:
    """A new rollout percentage previews how many recent users land in the canary."""
    flag = await plane.flags.get(call.args["flag"])
    if call.expected_version is None:
        call.expected_version = flag.version
    population = await recent_keys(plane, flag.stickiness)
    what, n = plural(flag.stickiness), len(population)
    now_in = preview_count(flag, flag.rollout_bp, population)

    def hint(values: dict[str, str]) -> str:
        raw = values.get("percent", "").strip()
        if not raw:
            return f"now {now_in} of {n} recent {what} are in the canary (rollout {flag.rollout})"
        try:
            bp = text.percent(raw)
        except text.Invalid as exc:
            return str(exc)
        new_in = preview_count(flag, bp, population)
        return f"{new_in} of {n} recent {what} in the canary (now {now_in})"

    return Ask(hint=hint)
