"""The console's side of the operations table: requests from views, confirmation, the toast.

Views never call up into the app: a key posts :class:`OperationRequested` with what the
selected row fills in (``{"agent": [ids]}``, ``{"dependency": "openai"}``). The app hands
it to :class:`ConsoleOperations`, which

1. drops it when the operation is not available (read-only, role, refused by Redis): such
   operations are absent from keys, footer, palette and ``:`` line, never merely refused;
2. asks the table for a preview (the exact targets: the agents a tenant kill stops, also
   those a filter hides) and opens the one :class:`ConfirmScreen`: every change asks for
   a reason, a destructive one is marked so and names its targets;
3. runs the operation on the backend's I/O loop and toasts its Outcome's text, which is
   the same sentence the CLI prints and a runbook step shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from textual.message import Message

from agentconsole import text
from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue
from agentconsole.tui.modals import ConfirmScreen, Decision, Field

if TYPE_CHECKING:
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend

FIELD_IDS = {"for": "duration"}  # widget ids the tests and keymaps know


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


def field_id(param: ops.Param) -> str:
    return FIELD_IDS.get(param.name, param.name)


def button_label(op: ops.Operation) -> str:
    """'Kill' for kill agent/tenant/all, else the last word: 'Trip', 'Force close', 'Lift'."""
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
        asks = [p for p in op.params if p.name not in given and not p.subject]

        async def load(backend: Backend) -> tuple[ops.Preview, list[str]]:
            plane = backend.plane()
            preview = await op.preview(plane, partial)
            population = await _population(plane, op, partial)
            return preview, population

        try:
            preview, population = await self.app.backend.run(load)
        except Exception as exc:
            self.app.report(exc, f"preparing {partial.line}", op.permission)
            return
        if message.expected_version is None:
            message.expected_version = partial.expected_version  # what the preview showed
        # Every change asks for a reason (the audit says why, not only who): a harmless
        # one in a plain dialog whose reason field confirms with Enter.
        detail = preview.detail
        if op.name.startswith("kill.") and preview.targets:
            hidden = len(set(preview.targets) - self.app.agents_painted())
            if hidden:
                detail = f"{hidden} of them hidden by the current filter or not loaded. " + detail
        fields = tuple(Field(field_id(p), _placeholder(p)) for p in asks)

        def validate(values: dict[str, str]) -> str | None:
            try:
                op.parse_args(_merge(op, given, values))
            except InvalidValue as exc:
                return str(exc)
            return None

        screen = ConfirmScreen(
            preview.title,
            preview.targets,
            detail=detail,
            verb=button_label(op),
            fields=fields,
            validate=validate,
            hint=_hint(op, partial, population),
            destructive=preview.confirm,
        )

        def done(decision: Decision | None) -> None:
            if decision is not None:
                self._confirmed(op, given, message, decision)
            self.app.resume_refresh()

        self.app.push_screen(screen, done)

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
    merged = dict(given)
    for p in op.params:
        typed = values.get(field_id(p), "").strip()
        if typed:
            merged[p.name] = typed
    return merged


def _placeholder(p: ops.Param) -> str:
    if p.kind is ops.DURATION:
        return "for how long: e.g. 10m, 1h, 1d" + (" (empty: until reset)" if p.optional else "")
    if p.kind is ops.PERCENT:
        return "new percentage, e.g. 25 or 2.5"
    return f"{p.name}: {p.help}" if p.help else p.name


async def _population(plane: Any, op: ops.Operation, call: ops.Call) -> list[str]:
    """For a rollout: the recent users/tenants/agents, to preview who lands in the canary."""
    if op.name != "flag.rollout":
        return []
    flag = await plane.flags.get(call.args["flag"])
    call.context["flag"] = flag
    if call.expected_version is None:
        call.expected_version = flag.version
    agents = await plane.agents.list(limit=2000)
    attr = {"user": "user", "tenant": "tenant"}.get(flag.stickiness, "id")
    return sorted({getattr(a, attr) for a in agents if getattr(a, attr)})


def _hint(
    op: ops.Operation, call: ops.Call, population: list[str]
) -> Callable[[dict[str, str]], str] | None:
    flag = call.context.get("flag")
    if op.name != "flag.rollout" or flag is None:
        return None
    what = {"user": "users", "tenant": "tenants"}.get(flag.stickiness, "agents")
    n = len(population)
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

    return hint
