"""The runbook screen: step through a runbook for one incident, with live numbers and
guarded actions, sharing progress with every other operator on the same incident.

A thin view over :class:`agentconsole.runbook.session.RunbookSession`: all I/O runs in
workers (through the console's Backend when there is one, so Redis and Prometheus stay on
its I/O loop), results are painted on the app thread, and every text that comes from the
runbook or the alert is shown as data (``markup=False`` / ``Content``), never as markup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.model import Runbook, Step
from agentconsole.runbook.session import PreparedAction, RunbookSession, load_rules_index
from agentconsole.runbook.template import display, reflow
from agentconsole.text import hms
from agentconsole.tui.modals import ConfirmScreen, Decision, Dialog, PasteInput

T = TypeVar("T")
POLL_SECONDS = 2.0
MARK = {"done": "✓", "skipped": "⤼"}


def _plain(value: Any, width: int = 400) -> Content:
    """Untrusted text as a Content: control characters visible, markup inert."""
    return Content(display("" if value is None else str(value), width))


def _block_text(value: str) -> Content:
    """Multi-line text (code, results): keep its line breaks, make everything else visible."""
    return Content("\n".join(display(line, 1000) for line in value.split("\n")))


class NoteScreen(Dialog[str | None]):
    """Ask for a note (required to skip a step): enter submits, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="runbook.note.cancel")
    ]
    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical { width: 70; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    NoteScreen #note-error { color: $error; height: auto; }
    """

    def __init__(self, question: str, *, required: bool = True) -> None:
        super().__init__()
        self.question = question
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(_plain(self.question))
            yield PasteInput(placeholder="note (who reads the timeline will thank you)", id="note")
            yield Static("", id="note-error")
            yield self.held_note()

    @on(Input.Submitted, "#note")
    def submitted(self, event: Input.Submitted) -> None:
        if not self.submitted_here(event):
            return
        value = event.value.strip()
        if self.required and not value:
            self.query_one("#note-error", Static).update("a note is required")
            return
        self.close(value)

    def action_cancel(self) -> None:
        self.close(None)


class InputsScreen(Dialog[dict[str, str] | None]):
    """Values an action needs from the operator (``{{ input.x }}``), checked on render."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="runbook.inputs.cancel")
    ]
    DEFAULT_CSS = """
    InputsScreen { align: center middle; }
    InputsScreen > Vertical { width: 70; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    """

    def __init__(self, action: str, names: list[str]) -> None:
        super().__init__()
        self.action_text = action
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(_plain(f"This action needs values: {self.action_text}"))
            for name in self.names:
                yield PasteInput(placeholder=name, id=f"input-{name}")
            yield self.held_note()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.submitted_here(event):
            return
        inputs = list(self.query(Input))
        empty = [i for i in inputs if not i.value.strip()]
        if empty:
            empty[0].focus()
            return
        self.close({n: i.value.strip() for n, i in zip(self.names, inputs, strict=True)})

    def action_cancel(self) -> None:
        self.close(None)


class RunbookScreen(Screen[None]):
    """One runbook, one incident. Keys: n/p step, d done, s skip, a/enter action,
    r re-run queries, escape back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_step", "Next", id="runbook.next"),
        Binding("p", "previous_step", "Previous", id="runbook.previous"),
        Binding("d", "done", "Done", id="runbook.done"),
        Binding("s", "skip", "Skip", id="runbook.skip"),
        Binding("a,enter", "run_action", "Run action", id="runbook.action"),
        Binding("r", "rerun", "Re-run queries", id="runbook.rerun"),
        Binding("v", "verify_step", "Verify", id="runbook.verify"),
        Binding("escape", "back", "Back", id="runbook.back"),
    ]
    DEFAULT_CSS = """
    RunbookScreen { layout: vertical; }
    RunbookScreen #rb-title { height: auto; background: $panel; padding: 0 1; text-style: bold; }
    RunbookScreen #rb-incident { height: auto; background: $panel; padding: 0 1; }
    RunbookScreen #rb-steps { height: auto; padding: 0 1; color: $text-muted; }
    RunbookScreen #rb-body { height: 1fr; padding: 0 1; }
    RunbookScreen .rb-step-title { text-style: bold; margin: 1 0 0 0; }
    RunbookScreen .rb-code { background: $boost; padding: 0 1; margin: 1 0 0 0; }
    RunbookScreen .rb-actions { height: auto; max-height: 8; margin: 1 0 0 0; }
    RunbookScreen #rb-status { height: auto; padding: 0 1; background: $panel; }
    """

    def __init__(
        self,
        runbook: Runbook | str | None,
        alert: Any = None,
        *,
        plane: Any = None,
        metrics: Any = None,
        backend: Any = None,
        settings: Any = None,
        rules: dict[str, Any] | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__()
        self.settings = settings or getattr(backend, "settings", None)
        self.alert = (
            alert
            if isinstance(alert, AlertContext) or alert is None
            else AlertContext.from_alert(alert)
        )
        self.runbook, self.load_error = self._resolve(runbook)
        self._plane = plane
        self._metrics = metrics
        self._backend = backend
        self._rules = rules
        self._session: RunbookSession | None = None
        self.poll = poll
        self.index = 1
        self._placed = False  # jumped to the incident's current step once
        self._actions: list[PreparedAction] = []
        self._painting = asyncio.Lock()

    # --- wiring -------------------------------------------------------------------------

    def _resolve(self, runbook: Runbook | str | None) -> tuple[Runbook | None, str | None]:
        """A Runbook as given; an id from the runbooks dir; with no (or an unknown) id and
        an alert, the runbook whose front matter lists the alert."""
        if isinstance(runbook, Runbook):
            return runbook, None
        from agentconsole.runbook.library import Library

        directory = getattr(self.settings, "runbooks_dir", "runbooks")
        library = Library.load([directory])
        found = library.get(runbook) if runbook else None
        if found is None and self.alert is not None:
            found = library.for_alert(self.alert)
        if found is not None:
            return found, None
        what = (
            f"no runbook {runbook!r}"
            if runbook
            else f"no runbook for {self.alert.name if self.alert else 'this alert'}"
        )
        return None, f"{what} in {directory}"

    def _rules_index(self) -> dict[str, Any]:
        if self._rules is not None:
            return self._rules
        base = Path(getattr(self.settings, "runbooks_dir", "runbooks")).resolve().parent
        for candidate in (
            base / "deploy/prometheus/alerts.yml",
            Path("deploy/prometheus/alerts.yml"),
        ):
            if candidate.is_file():
                return load_rules_index(candidate)
        return {}

    async def call(self, fn: Callable[[RunbookSession], Awaitable[T]]) -> T:
        """Run ``fn(session)`` where the connections live: the Backend's I/O loop if the
        console gave us one, else here."""

        async def inner(backend: Any = None) -> T:
            if self._session is None:
                plane = self._plane if backend is None else backend.plane()
                metrics = self._metrics if backend is None else backend.metrics()
                assert self.runbook is not None
                self._session = RunbookSession(
                    plane, self.runbook, self.alert, metrics, self._rules_index()
                )
                problem = getattr(backend, "metrics_problem", None)
                if metrics is None and problem:
                    self._session.no_metrics = problem  # say why, not just "not configured"
            return await fn(self._session)

        if self._backend is not None:
            return await self._backend.run(inner)
        return await inner()

    @property
    def session(self) -> RunbookSession | None:
        return self._session

    @property
    def step(self) -> Step | None:
        if self.runbook is None or not self.runbook.steps:
            return None
        return self.runbook.step(self.index)

    # --- layout -------------------------------------------------------------------------

    header_title = "Runbook"  # what the shared header names this screen

    def compose(self) -> ComposeResult:
        from agentconsole.tui.footer import ConsoleFooter
        from agentconsole.tui.header import HeaderBar

        # the environment badge and the connections' health stay in sight while working
        if hasattr(self.app, "header_state"):
            yield HeaderBar(id="rb-header")
        yield Static("", id="rb-title")
        yield Static("", id="rb-incident")
        yield Static("", id="rb-steps")
        yield VerticalScroll(id="rb-body")
        yield Static("", id="rb-status")
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        state = getattr(self.app, "header_state", None)
        if state is not None:
            from agentconsole.tui.header import HeaderBar

            self.query_one("#rb-header", HeaderBar).show(state(self.header_title))
        if self.runbook is None:
            self.status(self.load_error or "runbook not found")
            return
        alert = self.alert.describe() if self.alert else "opened from the runbook list"
        title = f"Runbook {self.runbook.id}: {self.runbook.title} — {alert}"
        self.query_one("#rb-title", Static).update(_plain(title))
        self.load_incident()
        await self.show_step()

    def status(self, message: str) -> None:
        self.query_one("#rb-status", Static).update(_plain(message, 300))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A viewer (or a console in read-only mode) gets no write keys at all."""
        if self.runbook is None:
            return action == "back"
        if action in ("done", "skip", "run_action"):
            read_only = getattr(getattr(self.settings, "ui", None), "read_only", False)
            return not read_only and (self._session is None or not self._session.read_only)
        return True

    # --- progress -----------------------------------------------------------------------

    @work(exclusive=True, group="runbook-incident", exit_on_error=False)
    async def load_incident(self) -> None:
        """Join or open the incident, then keep its shared progress fresh by polling."""
        try:
            await self.call(lambda s: s.start())
        except Exception as exc:  # one line, the screen stays usable
            self.status(f"incident progress unavailable: {exc}")
        else:
            self.refresh_bindings()
            if not self._placed:
                self._placed = True
                start = self.start_step()
                if start != self.index:
                    self.index = start
                    await self.show_step()
            self.paint_incident()
        self.set_timer(self.poll, self.poll_incident)

    @work(exclusive=True, group="runbook-incident", exit_on_error=False)
    async def poll_incident(self) -> None:
        try:
            await self.call(lambda s: s.refresh())
        except Exception as exc:
            self.status(f"incident progress stale: {exc}")
        else:
            if self.app.screen is self:
                self.paint_incident()
        if self.is_attached:
            self.set_timer(self.poll, self.poll_incident)

    def start_step(self) -> int:
        """Where the operator starts: an incident already worked resumes at its current
        step; a fresh alert opens at its first step with an action (the mitigation)."""
        incident = self.session.incident if self.session else None
        if incident is not None and incident.steps and not incident.resolved:
            return incident.current_step
        if self.alert is not None and self.runbook is not None:
            for step in self.runbook.steps:
                if step.has_actions:
                    return step.index
        return self.index

    def paint_incident(self) -> None:
        session = self.session
        incident = session.incident if session else None
        if self.runbook is None:
            return
        if incident is None:
            line = "no incident yet" + (
                " (read-only: viewer)"
                if session and session.read_only
                else ": marking a step or running an action opens it"
            )
        else:
            when = hms(incident.started_at)
            state = "resolved" if incident.resolved else "open"
            line = (
                f"Incident {incident.id} ({state}) started {when} UTC by {incident.started_by}"
                f" · {len(incident.actions)} action(s)"
            )
        self.query_one("#rb-incident", Static).update(_plain(line))
        marks = []
        for s in self.runbook.steps:
            mark = incident.mark(s.index) if incident else None
            symbol = MARK.get(mark.status, "?") if mark else "·"
            here = "▶" if s.index == self.index else " "
            marks.append(f"{here}{s.index}.{symbol} {s.title}")
        self.query_one("#rb-steps", Static).update(_plain("   ".join(marks), 2000))
        self.paint_step_mark()

    def paint_step_mark(self) -> None:
        incident = self.session.incident if self.session else None
        mark = incident.mark(self.index) if incident else None
        widgets = self.query("#rb-mark")
        if not widgets:
            return
        if mark is None:
            text = "Not done yet."
        else:
            when = hms(mark.at)
            text = f"{mark.status.capitalize()} by {mark.by} at {when} UTC" + (
                f": {mark.note}" if mark.note else ""
            )
        widgets.first(Static).update(_plain(text))

    # --- the step -----------------------------------------------------------------------

    async def show_step(self) -> None:
        """Rebuild the body for the current step (serialised: ids must stay unique)."""
        async with self._painting:
            await self._show_step()

    async def _show_step(self) -> None:
        step = self.step
        body = self.query_one("#rb-body", VerticalScroll)
        await body.remove_children()
        if step is None:
            await body.mount(Static("This runbook has no steps."))
            return
        total = len(self.runbook.steps) if self.runbook else 0
        widgets: list[Any] = [
            Static(_plain(f"Step {step.index}/{total}: {step.title}"), classes="rb-step-title"),
            Static("", id="rb-mark"),
        ]
        from agentconsole.runbook.template import Values, render_text

        values = self.alert.values() if self.alert else Values()
        # Blocks in document order: the text that explains an action stays next to it.
        for number, block in enumerate(step.blocks):
            if block.kind == "text":
                widgets.append(Static(_block_text(reflow(render_text(block.body, values)))))
            elif block.kind == "code":
                widgets.append(Static(_block_text(block.body), classes="rb-code"))
            elif block.kind == "promql":
                widgets.append(
                    Static(
                        "running queries…", id=f"rb-queries-{number}", classes="rb-code rb-queries"
                    )
                )
            elif block.kind == "verify":
                widgets.append(Static("checking the alert condition…", id="rb-verify"))
            elif block.kind == "action":
                widgets.append(OptionList(id=f"rb-actions-{number}", classes="rb-actions"))
        self._actions = []
        await body.mount_all(widgets)
        if step.has_actions:
            self.query(".rb-actions").first(OptionList).focus()  # up/down choose an action
            self.prepare_actions()
        self.paint_step_mark()
        if self.runbook is not None:
            self.paint_incident()
        if step.of_kind("promql") or step.is_verify:
            self.run_queries()

    def _block_of(self, line: int) -> int | None:
        """Which block of the current step holds a file line (actions and queries)."""
        step = self.step
        for number, block in enumerate(step.blocks if step else []):
            if block.line <= line < block.line + max(1, len(block.lines)):
                return number
        return None

    @work(exclusive=True, group="runbook-actions", exit_on_error=False)
    async def prepare_actions(self) -> None:
        step = self.step
        if step is None:
            return
        index = step.index

        async def prepare(session: RunbookSession) -> list[PreparedAction]:
            return session.actions(step)

        try:
            items = await self.call(prepare)
        except Exception as exc:
            self.status(f"cannot prepare actions: {exc}")
            return
        if index != self.index:
            return
        self._actions = items
        self.paint_actions()

    def paint_actions(self) -> None:
        """Fill each action block's list; option ids carry the index into ``_actions``."""
        for options in self.query(".rb-actions").results(OptionList):
            highlighted = options.highlighted
            options.clear_options()
            for i, item in enumerate(self._actions):
                if options.id != f"rb-actions-{self._block_of(item.line)}":
                    continue
                if item.refused:
                    label = f"✗ {item.text}  — {item.refused}"
                elif not item.allowed:
                    label = f"✗ {item.text}  — not permitted for your role"
                elif item.needs:
                    label = f"▸ {item.text}  (asks for: {', '.join(item.needs)})"
                else:
                    label = f"▸ {item.text}"
                options.add_option(Option(_plain(label), id=f"action-{i}"))
            if options.option_count:
                options.highlighted = min(highlighted or 0, options.option_count - 1)

    @work(exclusive=True, group="runbook-queries", exit_on_error=False)
    async def run_queries(self) -> None:
        step = self.step
        if step is None:
            return
        index = step.index
        if step.of_kind("promql"):
            try:
                outcomes = await self.call(lambda s: s.queries(step))
                error = None
            except Exception as exc:
                outcomes, error = [], f"queries failed: {exc}"
            by_block: dict[int | None, list[str]] = {}
            for o in outcomes:
                first = (o.promql or o.source).strip().split("\n")[0]
                lines = by_block.setdefault(self._block_of(o.line), [])
                if o.comment:
                    lines.append(display(o.comment, 110))
                lines.append(f"  {display(first, 108)}\n  → {display(o.summary(), 200)}")
            stamp = f"(as of {hms(time.time())} UTC; r re-runs)"
            if index == self.index:
                for widget in self.query(".rb-queries").results(Static):
                    number = int((widget.id or "-1").rsplit("-", 1)[1])
                    text = error or "\n".join(by_block.get(number, [])) or "no queries"
                    widget.update(_block_text(f"{text}\n{stamp}"))
        if step.is_verify:
            try:
                verdict = await self.call(lambda s: s.verify(step))
                symbol = {True: "✗ still firing:", False: "✓", None: "?"}[verdict.holds]
                text = f"{symbol} {verdict.message}"
            except Exception as exc:
                text = f"? could not verify: {exc}"
            if index == self.index and self.query("#rb-verify"):
                self.query_one("#rb-verify", Static).update(_plain(text))

    # --- key actions --------------------------------------------------------------------

    async def action_next_step(self) -> None:
        if self.runbook and self.index < len(self.runbook.steps):
            self.index += 1
            await self.show_step()

    async def action_previous_step(self) -> None:
        if self.index > 1:
            self.index -= 1
            await self.show_step()

    async def action_verify_step(self) -> None:
        """After the mitigation: straight to the step that checks the alert condition."""
        steps = self.runbook.steps if self.runbook else []
        verify = next((st.index for st in steps if st.is_verify), None)
        if verify is None:
            self.status("this runbook has no verify step")
            return
        if verify != self.index:
            self.index = verify
            await self.show_step()
        else:
            self.run_queries()

    def action_rerun(self) -> None:
        self.run_queries()
        self.poll_incident()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_done(self) -> None:
        self.mark_step("done", "")

    def action_skip(self) -> None:
        step = self.index

        def got(note: str | None) -> None:
            if note:
                self.mark_step("skipped", note, step)

        self.app.push_screen(NoteScreen(f"Skip step {step}: why?"), got)

    @work(group="runbook-mark", exit_on_error=False)
    async def mark_step(self, status: str, note: str, step: int | None = None) -> None:
        index = step or self.index
        try:
            await self.call(lambda s: s.mark(index, status, note))
        except Exception as exc:
            self.status(str(exc))
            self.paint_incident()
            return
        self.status(f"step {index} marked {status}")
        last = len(self.runbook.steps) if self.runbook else 0
        if status == "done" and index == self.index and self.index < last:
            self.index += 1
            await self.show_step()
            return
        self.paint_incident()

    @on(OptionList.OptionSelected, ".rb-actions")
    def action_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_run_action(_option_index(event.option.id))

    def action_run_action(self, index: int | None = None) -> None:
        if not self._actions:
            self.status("this step has no action")
            return
        if index is None:
            focused = self.focused
            lists = list(self.query(".rb-actions").results(OptionList))
            options = focused if isinstance(focused, OptionList) else lists[0]
            highlighted = options.highlighted
            option = options.get_option_at_index(highlighted) if highlighted is not None else None
            index = _option_index(option.id if option else None)
        item = self._actions[index]
        if item.refused:
            self.status(f"refused: {item.refused}")
            return
        if not item.allowed:
            self.status(f"not permitted for your role: {item.text}")
            return
        if item.needs:

            def got(inputs: dict[str, str] | None) -> None:
                if inputs:
                    self.prepare_with_inputs(index, inputs)

            self.app.push_screen(InputsScreen(item.text, item.needs), got)
            return
        self.confirm(index)

    @work(group="runbook-actions", exit_on_error=False)
    async def prepare_with_inputs(self, index: int, inputs: dict[str, str]) -> None:
        item = self._actions[index]
        await self.call(lambda s: _async(s.prepare(item, inputs)))
        self.paint_actions()
        if item.refused:
            self.status(f"refused: {item.refused}")
        elif item.rendered is not None:
            self.confirm(index)

    def confirm(self, index: int) -> None:
        item = self._actions[index]
        if item.rendered is None:
            return
        operator = getattr(getattr(self._session, "plane", None), "operator", None)
        who = f"{operator.name} ({operator.role})" if operator else "you"
        detail = (
            f"Runs as {who}, through the control plane, audited with reason "
            f"“runbook {self.runbook.id if self.runbook else '?'} step {item.step}: "
            f"{item.rendered.text}”."
        )

        def decided(decision: Decision | None) -> None:
            if decision is not None:
                self.execute(item, decision.reason)
            else:
                self.status("cancelled: nothing was changed")

        screen = ConfirmScreen(  # the title is exactly what will run
            item.rendered.text,
            [],
            detail=f"Run this action? {detail}",
            verb="Run",
        )
        self.app.push_screen(screen, decided)

    @work(group="runbook-run", exit_on_error=False)
    async def execute(self, item: PreparedAction, note: str = "") -> None:
        self.status(f"running: {item.text}…")
        try:
            result = await self.call(lambda s: s.run(item, note))
        except Exception as exc:
            self.status(f"failed: {item.text}: {exc}")
            self.poll_incident()
            return
        self.status(f"done: {result.message}")
        self.paint_incident()
        self.run_queries()


async def _async(value: T) -> T:
    return value


def _option_index(option_id: str | None) -> int:
    """``action-3`` -> 3: the option's index into the step's prepared actions."""
    return int(option_id.rsplit("-", 1)[1]) if option_id else 0
