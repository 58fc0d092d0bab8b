"""The console application: views, polling, live events; operations go to the table.

Data flow: a poll worker runs the current view's loader on the backend's I/O thread, and
posts :class:`Fetched`; the handler paints it in one batch and schedules the next poll
(so polls never overlap). Change events from other operators arrive as
:class:`ChangeNotice` and trigger an early refresh. Views post ``OperationRequested``;
``tui/operations.py`` confirms and runs it (in workers), and toasts what really happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.suggester import Suggester
from textual.widgets import ContentSwitcher, Input, Static

from agentconsole.config import Settings, env_name
from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue
from agentconsole.control.roles import Operator
from agentconsole.tui import fmt, rollout_panel, terminal
from agentconsole.tui.backend import Backend, Health
from agentconsole.tui.footer import ConsoleFooter
from agentconsole.tui.header import HeaderBar, HeaderState
from agentconsole.tui.operations import ConsoleOperations, Notice, OperationRequested
from agentconsole.tui.safe import clean
from agentconsole.tui.table import LiveTable
from agentconsole.tui.toasts import Toast, ToastHold
from agentconsole.tui.views.agents import AgentsView
from agentconsole.tui.views.audit import AuditView
from agentconsole.tui.views.base import View
from agentconsole.tui.views.breakers import BreakersView
from agentconsole.tui.views.flags import FlagsView
from agentconsole.tui.views.overview import WINDOWS, OverviewView
from agentconsole.tui.views.runbooks import RunbooksView
from agentconsole.tui.views.spend import SpendView

VIEW_CLASSES: tuple[type[View], ...] = (
    OverviewView,
    AgentsView,
    FlagsView,
    BreakersView,
    AuditView,
    RunbooksView,
    SpendView,
)
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
PROBLEM_WINDOW = 30.0  # seconds a wrong-typed key stays on the problems line after last seen


@dataclass
class AppOptions:
    """Everything that varies between runs, injectable so snapshots are deterministic."""

    clock: Callable[[], float] = time.time
    hostname: str | None = None
    version: str | None = None
    metrics: bool = True  # False: the panels area shows "metrics layer unavailable"
    start_view: str = "overview"
    live_events: bool = True
    ack_timeout: float = 2.0
    agent_limit: int = 1_000  # the Agents view's page of the fleet (rows held and diffed)
    gc_freeze: bool = True  # see ConsoleApp._settle_heap
    welcome: str = ""  # a first screen over the overview (the demo explains itself)


class Fetched(Message):
    def __init__(
        self,
        view_id: str,
        data: Any,
        error: BaseException | None,
        header: Any,
        header_error: BaseException | None,
    ) -> None:
        super().__init__()
        self.view_id, self.data, self.error = view_id, data, error
        self.header, self.header_error = header, header_error


class ChangeNotice(Message):
    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class EventsState(Message):
    def __init__(self, ok: bool, error: str) -> None:
        super().__init__()
        self.ok, self.error = ok, error


class LoaderProblem(Exception):
    """A problem a view's loader already phrased for the operator: shown as it is."""


def _describe(exc: BaseException) -> str:
    from agentconsole.control.plane import translate

    if isinstance(exc, LoaderProblem):
        return clean(str(exc), 300)
    err = translate(exc)
    if err is not None:
        return clean(str(err), 300)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return clean(f"{type(exc).__name__}: {exc}", 300)


def _is_unavailable(exc: BaseException) -> bool:
    """Connection trouble is shown by the header's health, not by one more toast."""
    from agentconsole.control.errors import Unavailable
    from agentconsole.control.plane import translate

    return isinstance(translate(exc), Unavailable) or isinstance(exc, TimeoutError)


class CommandSuggester(Suggester):
    """Completes the `:` line from the app's verbs and the names its views hold."""

    def __init__(self, app: ConsoleApp) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.console = app

    async def get_suggestion(self, value: str) -> str | None:
        return self.console.complete_command(value)


class CommandLine(Input):
    """The `:` line. Tab takes the completion shown in grey, as in k9s or a shell; without
    one it stays put (moving focus away mid-command would send the next keys to a view)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("tab", "complete", "complete", show=False)]

    def action_complete(self) -> None:
        self.cursor_position = len(self.value)
        self.action_cursor_right()  # at the end of the line this accepts the suggestion


class ConsoleApp(App[int]):
    TITLE = "agentconsole"
    CSS = """
    #views { height: 1fr; }
    View.stale { tint: $background 45%; }
    #cmdbar { height: auto; display: none; dock: bottom; }
    #cmdbar.active { display: block; }
    #cmd-prompt { width: 3; padding: 1 0 0 1; text-style: bold; }
    #cmdline { width: 1fr; }
    View > Static { height: auto; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('overview')", "Overview", id="view.overview"),
        Binding("2", "show('agents')", "Agents", id="view.agents"),
        Binding("3", "show('flags')", "Flags", id="view.flags"),
        Binding("4", "show('breakers')", "Breakers", id="view.breakers"),
        Binding("5", "show('audit')", "Audit", id="view.audit"),
        Binding("6", "show('runbooks')", "Runbooks", id="view.runbooks"),
        Binding("7,dollar_sign", "show('spend')", "Spend", id="view.spend", show=False),
        Binding("colon", "command", "Command", id="app.command"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", id="app.back", show=False),
        # refresh and pause are in ? help, not the footer: at 160 columns it would be cut
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh", show=False),
        Binding("p", "pause", "Pause", id="app.pause", show=False),
        Binding("plus", "faster", "Faster", id="app.faster", show=False),
        Binding("minus", "slower", "Slower", id="app.slower", show=False),
        Binding("y", "decide('approval.approve')", "Approve request", id="app.approve", show=False),
        Binding("x", "decide('approval.reject')", "Reject request", id="app.reject", show=False),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]
    GC_EVERY: ClassVar[int] = 300  # paints between explicit cyclic collections
    TOAST_COALESCE: ClassVar[float] = 30.0  # seconds an identical toast is not repeated
    COMMAND_HELP: ClassVar[list[tuple[str, str]]] = [
        (", ".join(cls.aliases[:4]), f"go to {cls.title}") for cls in VIEW_CLASSES
    ] + [
        ("refresh N / interval N", "poll every N seconds"),
        ("pause, resume", "stop / restart polling"),
        ("window 15m|1h|6h|24h", "overview chart window"),
        ("runbook ID", "open a runbook"),
        ("help", "this screen"),
        ("q, quit", "leave the console"),
    ]

    def __init__(self, settings: Settings, options: AppOptions | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.options = options or AppOptions()
        self.operator = Operator(settings.operator_name, settings.role)
        self.backend = Backend(settings, metrics_enabled=self.options.metrics)
        self.interval = float(settings.ui.refresh_seconds)
        self.paused = False
        self.redis_health = Health("Redis")
        self.prometheus_health = Health("Prometheus")
        self.events_ok: bool | None = None
        self.applied: tuple[int, int, int] | None = None
        self.reset_banner: str | None = None  # "control plane reset at ..." (red, line 3)
        self.key_problems: list[str] = []  # wrong-typed keys met lately (skipped)
        self.asks: list[str] = []  # pending four-eyes requests ("alice asks: ...")
        self.no_applier: str | None = None  # applier mode with no applier running
        self.kills_in_force: list[str] = []  # kill targets still in force (header)
        self.current = self.options.start_view
        self.history: list[str] = []
        self._timer: Any = None
        self._event_timer: Any = None
        self._pending: Fetched | None = None
        self._cmd_mode = "command"
        self.paint_counts: dict[str, int] = {}
        self.last_paint_seconds = 0.0  # wall time of the last paint on the UI thread
        self.last_paint_cpu = 0.0  # CPU time of it (without waits for the GIL)
        self._painted = asyncio.Event()
        self._denied_once: set[str] = set()
        self.denied: set[str] = set()  # permissions Redis refused: their actions are hidden
        self._paints_since_collect = 0
        self.toasts: list[str] = []  # every toast shown, newest last (tests, the bench)
        self._toast_last: dict[str, tuple[float, int]] = {}  # text -> (shown at, times)
        self._breaker_told: dict[str, str] = {}  # dependency -> state last toasted
        self.toast_hold = ToastHold(self, self._notify_now)  # none covers a dialog
        self._dialog_closed_at = 0.0  # time.monotonic() when the last dialog closed
        self.operations = ConsoleOperations(self)
        self.hostname = self.options.hostname or socket.gethostname()
        if self.options.version is not None:
            self.app_version = self.options.version
        else:
            from agentconsole import __version__ as version

            self.app_version = version

    # --- layout ---------------------------------------------------------------------

    def compose(self):
        yield HeaderBar(id="header")
        with ContentSwitcher(initial=self.current, id="views"):
            for cls in VIEW_CLASSES:
                yield cls(id=cls.view_id)
        with Horizontal(id="cmdbar"):
            yield Static(":", id="cmd-prompt", markup=False)
            yield CommandLine(id="cmdline", suggester=CommandSuggester(self))
        yield ConsoleFooter()

    def on_mount(self) -> None:
        if self.options.gc_freeze:
            import gc

            gc.disable()  # see _settle_heap
            gc.freeze()
        if self.settings.ui.keymap:
            self.set_keymap(dict(self.settings.ui.keymap))
        self.backend.start()
        watch = None if self.is_headless else terminal.watch_stdin()
        if watch is not None:  # see tui/terminal.py: a hangup that never reached us
            self.set_interval(terminal.CHECK_SECONDS, watch.check)
        if self.options.live_events:
            self.backend.watch_events(
                lambda event: self.post_message(ChangeNotice(event)),
                lambda ok, error: self.post_message(EventsState(ok, error)),
            )
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.paint_header()
        self.current_view.focus_main()
        self.poll_now()
        if self.options.welcome:
            from agentconsole.tui.welcome import WelcomeScreen

            self.push_screen(WelcomeScreen(self.options.welcome), lambda _: self.resume_refresh())

    async def on_unmount(self) -> None:
        if self.options.gc_freeze:
            import gc

            gc.unfreeze()
            gc.enable()
        await asyncio.get_running_loop().run_in_executor(None, self.backend.stop)

    @property
    def current_view(self) -> View:
        return self.query_one(f"#{self.current}", View)

    def view(self, view_id: str) -> View:
        return self.query_one(f"#{view_id}", View)

    # --- permissions ----------------------------------------------------------------

    def allowed(self, permission: str) -> bool:
        """Read-only mode and roles remove actions (absent from footer and palette)."""
        return (
            not self.settings.ui.read_only
            and self.operator.can(permission)
            and permission not in self.denied
        )

    # --- polling --------------------------------------------------------------------

    @property
    def modal_open(self) -> bool:
        """A dialog (or runbook) is up: refresh waits. Also true while shutting down."""
        try:
            screen = self.screen
        except Exception:  # no screen left: the app is closing
            return True
        return isinstance(screen, ModalScreen) or len(self.screen_stack) > 1

    def poll_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.poll()

    def _header_loader(self):
        async def load(
            backend: Backend,
        ) -> tuple[Any, str | None, list[str], list[str], list[str], str | None]:
            from agentconsole.control import applier, approvals, diagnostics
            from agentconsole.control.kills import marked

            plane = backend.plane()
            plane.reset = await plane.reset_status()  # also refuses this console's changes
            reset = plane.reset.banner() if plane.reset else None
            counts = await plane.agents.applied_counts()
            asks = [r.ask() for r in await approvals.pending(plane)]  # four-eyes requests
            problems = diagnostics.problems(plane, time.monotonic() - PROBLEM_WINDOW)
            kills, _ = await plane.kills.list()  # few: one per agent, tenant or all killed
            holds, _ = await plane.holds.list()  # drains and pauses, as few (header line 4)
            return (
                counts,
                reset,
                problems,
                asks,
                marked(kills) + marked(holds),  # 'tenant:acme (unreadable)' too
                await applier.missing(plane),  # applier mode and no applier: changes fail
            )

        return load

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def poll(self) -> None:
        view = self.current_view
        loader, header_loader = view.loader(), self._header_loader()
        data = error = header = header_error = None
        try:
            data = await self.backend.run(loader)
        except Exception as exc:
            error = exc
        try:
            header = await self.backend.run(header_loader)
        except Exception as exc:
            header_error = exc
        self.post_message(Fetched(view.view_id, data, error, header, header_error))

    def on_fetched(self, message: Fetched) -> None:
        if self.modal_open:
            self._pending = message  # refresh pauses while a dialog is open
            return
        try:
            self._paint(message)
        except NoMatches:  # a refresh that lands while the app closes: its views are gone
            return
        self._schedule_next()

    def _paint(self, message: Fetched) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        now = self.options.clock()
        try:
            view = self.view(message.view_id)
        except NoMatches:  # a refresh arriving while the console shuts down
            return
        if not view.query(LiveTable):
            return  # the view's widgets are gone (shutting down): nothing to paint
        redis_error = message.header_error or (
            message.error if message.view_id != "runbooks" else None
        )
        data = message.data
        if data is not None and getattr(data, "redis_error", None):
            redis_error = redis_error or LoaderProblem(data.redis_error)
        if redis_error is None:
            if self.redis_health.success(now):
                self.toast("Redis is back: live data again")
        elif self.redis_health.failure(now, _describe(redis_error)):
            # "last values" only if there ever were any: at start there is nothing to keep,
            # and the likely fix is the address (what to check, and where it is set)
            if self.redis_health.last_ok:
                kept = "showing last values, retrying"
            else:
                kept = f"nothing to show yet; check redis.url (${env_name('redis.url')}), retrying"
            self.toast(f"{_describe(redis_error)} — {kept}", severity="error")
        prom_ok = getattr(data, "prometheus_ok", None)
        if prom_ok is True and self.prometheus_health.success(now):
            self.toast("Prometheus is back")
        elif prom_ok is False and self.prometheus_health.failure(now, "unreachable"):
            if self.prometheus_health.last_ok:
                self.toast("Prometheus unreachable — panels greyed, retrying", severity="warning")
            else:  # never reached: nothing to grey, and the address is the likely fix
                setting = f"prometheus.url (${env_name('prometheus.url')})"
                self.toast(
                    f"Prometheus unreachable — no panel values yet; check {setting}, retrying",
                    severity="warning",
                )
        if message.header is not None:
            (
                self.applied,
                self.reset_banner,
                self.key_problems,
                self.asks,
                self.kills_in_force,
                self.no_applier,
            ) = message.header
        with self.batch_update():
            if message.error is None and data is not None:
                view.paint(data)
                view.set_stale(bool(getattr(data, "redis_error", None)))
            else:
                view.set_stale(True)
                if message.error is not None and not _is_unavailable(message.error):
                    self._tell_once(_describe(message.error))
            self.paint_header()
        self.last_paint_seconds = time.perf_counter() - started
        self.last_paint_cpu = time.thread_time() - cpu_started
        self.paint_counts[message.view_id] = self.paint_counts.get(message.view_id, 0) + 1
        self._painted.set()
        self._settle_heap()

    def _settle_heap(self) -> None:
        """Keep Python's cyclic GC from freezing the screen for a tenth of a second or more.

        With 10,000 agents each refresh allocates ~200,000 objects on the I/O thread and
        the tables hold ~150,000 long-lived cells; automatic collections then scan them
        and stop every thread for 70-700 ms (measured in bench/bench_console.py). Our
        data has no reference cycles, so reference counting frees it anyway. So while the
        console runs, automatic GC is off, and after each paint the surviving heap is
        frozen (``gc.freeze``); every ``GC_EVERY`` paints one explicit collection reclaims
        whatever cyclic garbage (tracebacks, asyncio internals) accumulated meanwhile.
        """
        if not self.options.gc_freeze:
            return
        import gc

        self._paints_since_collect += 1
        if self._paints_since_collect >= self.GC_EVERY:
            self._paints_since_collect = 0
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def _schedule_next(self) -> None:
        if self.paused:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.redis_health.backoff(self.interval), self.poll_now)

    def resume_refresh(self) -> None:
        """After a dialog closes: paint what arrived meanwhile, then poll at once."""
        pending, self._pending = self._pending, None
        if pending is not None and not self.modal_open:
            self._paint(pending)
        if not self.modal_open:
            self.poll_now()

    async def wait_for_paint(self, view_id: str, count: int = 1, timeout: float = 30.0) -> None:
        """For tests and the benchmark: until ``view_id`` was painted ``count`` times."""
        deadline = time.monotonic() + timeout
        while self.paint_counts.get(view_id, 0) < count:
            self._painted.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{view_id} not painted {count} times in {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._painted.wait(), remaining)

    def paint_header(self) -> None:
        try:
            header = self.query_one(HeaderBar)
        except NoMatches:  # shutting down: the screen's widgets are gone
            return
        header.show(self.header_state())
        # a pushed screen with a header of its own (the runbook) shows the same state
        with contextlib.suppress(Exception):
            if self.screen is not self.screen_stack[0]:
                for bar in self.screen.query(HeaderBar):
                    bar.show(self.header_state(self.screen_title()))

    def screen_title(self) -> str:
        return str(getattr(self.screen, "header_title", "") or "")

    def header_state(self, view_title: str | None = None) -> HeaderState:
        view_title = view_title or next(c.title for c in VIEW_CLASSES if c.view_id == self.current)
        return HeaderState(
            environment=self.settings.environment.name,
            env_color=self.settings.environment.color,
            app_version=self.app_version,
            hostname=self.hostname,
            operator=self.operator.name,
            role=self.operator.role,
            read_only=self.settings.ui.read_only,
            view_title=view_title,
            interval=self.interval,
            paused=self.paused,
            now=self.options.clock(),
            redis=self.redis_health,
            prometheus=self.prometheus_health,
            applied=self.applied,
            reset=self.reset_banner,
            problems=self.key_problems,
            asks=self.asks,
            kills=self.kills_in_force,
            no_applier=self.no_applier,
            events_ok=self.events_ok,
        )

    # --- live change events -----------------------------------------------------------

    def on_change_notice(self, message: ChangeNotice) -> None:
        event = message.event
        if event.entity == "breaker_state":
            # the fleet's own breaker logic: say when a dependency is cut off or back, not
            # every half-open probe of a flapping outage
            state = event.action.split(".")[-1]
            # an outage re-opens the breaker after every failed half-open probe: told once
            # when it opens and once when it closes, never once per probe
            if state in ("open", "closed") and self._breaker_told.get(event.name) != state:
                self._breaker_told[event.name] = state
                self.toast(
                    f"breaker {event.name} {state} by the agents' failure counting "
                    f"at {fmt.hms(event.ts)}",
                    title="breaker",
                    severity="warning" if state == "open" else "information",
                )
        elif rollout_panel.notice(self, event):
            pass  # a plan moved by the controller: told with its reason
        elif event.actor != self.operator.name:
            self.toast(
                f"{event.entity} {event.name} {event.action.split('.')[-1]} by {event.actor} "
                f"at {fmt.hms(event.ts)} (v{event.version})",
                title="changed elsewhere",
            )
        if self._event_timer is None and not self.modal_open:
            self._event_timer = self.set_timer(0.1, self._event_refresh)

    def _event_refresh(self) -> None:
        self._event_timer = None
        if not self.modal_open:
            self.poll_now()

    def on_events_state(self, message: EventsState) -> None:
        if message.ok != self.events_ok:
            self.events_ok = message.ok
            self.paint_header()

    # --- messages to the operator -----------------------------------------------------

    def toast(self, text: str, *, severity: str = "information", title: str = "") -> None:
        """Every toast is literal text: ids and reasons never act as markup. The same text
        again within ``TOAST_COALESCE`` seconds is not shown again (it is still counted)."""
        now = time.monotonic()
        last = self._toast_last.get(text)
        if last is not None and now - last[0] < self.TOAST_COALESCE:
            self._toast_last[text] = (last[0], last[1] + 1)
            return
        if len(self._toast_last) > 500:
            self._toast_last.clear()
        self._toast_last[text] = (now, 1)
        if last is not None and last[1] > 1:
            text = f"{text} (again; {last[1]} times in a row before)"
        timeout = 8 if severity != "information" else 5
        self.toasts.append(clean(text, 400))
        del self.toasts[:-200]
        self.notify(clean(text, 400), title=title, severity=severity, timeout=timeout, markup=False)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification, ours and Textual's, waits while a dialog is up (toasts.py)."""
        timeout = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self.toast_hold.notify(Toast(message, title, severity, timeout, markup))

    def _notify_now(self, notice: Toast) -> None:
        super().notify(
            notice.message,
            title=notice.title,
            severity=notice.severity,  # type: ignore[arg-type]
            timeout=notice.timeout,
            markup=notice.markup,
        )

    def _screen_changed(self, screen: Screen[Any]) -> None:
        from agentconsole.tui.modals import Dialog

        if not isinstance(screen, Dialog) and self.toast_hold.holding:
            self._dialog_closed_at = time.monotonic()
        self.toast_hold.screen_changed(screen)

    async def on_event(self, event: events.Event) -> None:
        # A key pressed before a dialog closed was meant for it: the rest of a burst (a
        # paste in a terminal without bracketed paste, where each newline is an Enter) must
        # not act on the view beneath (d, k, S and Enter would open and confirm dialogs).
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and event.time <= self._dialog_closed_at
        ):
            return
        await super().on_event(event)

    def _tell_once(self, text: str) -> None:
        if text not in self._denied_once:
            self._denied_once.add(text)
            self.toast(text, severity="error")

    def report(self, exc: BaseException, what: str, permission: str | None = None) -> None:
        """One line for a failed action. Refused by Redis (ACL): say so once, then hide it."""
        from agentconsole.control.errors import Conflict, PermissionDenied
        from agentconsole.control.plane import translate

        err = translate(exc) or exc
        text = f"{what} failed: {_describe(exc)}"
        if isinstance(err, Conflict):
            text = f"{what} not applied: {_describe(exc)}"
        if isinstance(err, PermissionDenied):
            self._tell_once(text + " — hidden from now on")
            if permission is not None:
                self.denied.add(permission)
                self.refresh_bindings()
        else:
            self.toast(text, severity="error")
        self.poll_now()

    # --- navigation -----------------------------------------------------------------

    def action_show(self, view_id: str) -> None:
        left_runbook = False
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
            self.pop_screen()  # a view key from a runbook goes back to the views
            left_runbook = True
        if view_id == self.current:
            if left_runbook:  # refresh paused while the runbook was up: restart it
                self.call_after_refresh(self.resume_refresh)
            return
        self.history.append(self.current)
        del self.history[:-20]
        self._switch(view_id)

    def _switch(self, view_id: str) -> None:
        self.current = view_id
        self.query_one(ContentSwitcher).current = view_id
        self.current_view.focus_main()
        self.paint_header()
        self.refresh_bindings()
        self.poll_now()

    async def action_back(self) -> None:
        bar = self.query_one("#cmdbar")
        table = self.current_view.found_table
        if bar.has_class("active"):
            self._close_cmdline()
        elif table is not None and table.filter_text:
            table.set_filter("")
            self.toast("filter cleared")
        elif self.history:
            self._switch(self.history.pop())

    def action_command(self) -> None:
        hint = "kill sim-0001 · trip openai 15m · rollout my-flag 5 · a view · q  (Tab completes)"
        self._open_cmdline("command", "", hint)

    def action_filter(self) -> None:
        table = self.current_view.found_table
        value = table.filter_text if table is not None else ""
        self._open_cmdline("filter", value, "regex filter; !regex inverts")

    def _open_cmdline(self, mode: str, value: str, placeholder: str) -> None:
        self._cmd_mode = mode
        self.query_one("#cmd-prompt", Static).update(":" if mode == "command" else "/")
        line = self.query_one("#cmdline", Input)
        line.value, line.placeholder = value, placeholder
        self.query_one("#cmdbar").add_class("active")
        line.focus()

    def _close_cmdline(self) -> None:
        self.query_one("#cmdbar").remove_class("active")
        self.current_view.focus_main()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "cmdline" and self._cmd_mode == "filter":
            self._apply_filter(event.value)

    def _apply_filter(self, value: str) -> None:
        view = self.current_view
        table = view.found_table
        if table is not None:
            table.set_filter(value)
            update = getattr(view, "update_summary", None)
            if update is not None:
                update()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "cmdline":
            return
        event.stop()
        self._close_cmdline()
        if self._cmd_mode == "filter":
            self._apply_filter(event.value)
        else:
            self.run_command_line(event.value)

    def run_command_line(self, line: str) -> None:
        """k9s-style `:` commands: a view alias, or a small verb with an argument."""
        words = line.strip().split()
        if not words:
            return
        verb, args = words[0].lower().lstrip(":"), words[1:]
        for cls in VIEW_CLASSES:  # `:flag` shows a view; `:flag create x` is an operation
            if verb in cls.aliases and (not args or ops.match([verb, *args]) is None):
                self.action_show(cls.view_id)
                return
        if verb in ("q", "q!", "quit", "exit"):
            self.exit(0)
        elif verb in ("refresh", "interval") and args:
            try:
                seconds = float(args[0].rstrip("s"))
                if seconds <= 0:
                    raise ValueError
            except ValueError:
                self.toast(f"not a number of seconds: {args[0]}", severity="warning")
                return
            self.interval = seconds
            self.toast(f"refresh every {seconds:g}s")
            self.paint_header()
            self.poll_now()
        elif verb in ("refresh", "r"):
            self.action_refresh()
        elif verb == "pause" and not args:  # `pause tenant acme` is the operation
            self.paused = False
            self.action_pause()
        elif verb == "resume" and not args:
            self.paused = True
            self.action_pause()
        elif verb == "window" and args and args[0] in WINDOWS:
            overview = self.view("overview")
            assert isinstance(overview, OverviewView)
            overview.window = args[0]
            self.action_show("overview")
            self.poll_now()
        elif verb in ("runbook", "rb") and args:
            self.open_runbook(args[0])
        elif verb in ("help", "h", "?"):
            self.action_help()
        else:
            self.run_operation_line(line)

    def run_operation_line(self, line: str) -> None:
        """`:kill sim-0001`, `:trip openai 15m`, `:rollout planner-v2 5`: the table's verbs,
        parsed by its grammar; what the line leaves out comes from the selected row."""
        import shlex

        try:
            words = shlex.split(line.strip().lstrip(":"))
        except ValueError as exc:
            self.toast(f"cannot read {clean(line, 60)}: {exc}", severity="warning")
            return
        found = ops.match(words)
        if found is None:
            self.toast(f"unknown command: {clean(line, 60)} (? for help)", severity="warning")
            return
        op, n = found
        if not self.operations.available(op):
            why = (
                "read-only console" if self.settings.ui.read_only else f"role {self.operator.role}"
            )
            self.toast(f"{op.verb} is not available ({why})", severity="warning")
            return
        try:
            raw = ops.bind(op, words[n:], lambda w: w)
        except InvalidValue as exc:
            self.toast(str(exc), severity="warning")
            return
        for key, value in (ops.offers(op, self.current_view.selection()) or {}).items():
            raw.setdefault(key, value)
        self.post_message(OperationRequested(op.name, raw))

    def complete_command(self, value: str) -> str | None:
        """Completion for the `:` line: verbs, then names from what the views hold."""
        if self._cmd_mode != "command" or not value or value.endswith(" "):
            return None
        words = value.split(" ")
        typed = words[-1]
        if len(words) == 1:
            candidates = [a for cls in VIEW_CLASSES for a in cls.aliases]
            candidates += [w for w in ("refresh", "pause", "resume", "window", "runbook", "help")]
            for op in ops.OPERATIONS:
                if self.operations.available(op):
                    candidates += [op.words[0], *op.aliases]
        else:
            head, i = tuple(words[:-1]), len(words) - 1
            candidates = [
                op.words[i]
                for op in ops.OPERATIONS
                if len(op.words) > i and op.words[:i] == head and self.operations.available(op)
            ]
            found = ops.match(words[:-1]) if not candidates else None
            if found is not None:
                op, n = found
                candidates = self._names_for(op, len(words) - 1 - n)
        for candidate in sorted(set(candidates)):
            if candidate.startswith(typed) and candidate != typed:
                return value[: len(value) - len(typed)] + ops.quote(candidate)
        return None

    def _names_for(self, op: ops.Operation, position: int) -> list[str]:
        positional = [p for p in op.params if not p.keyword]
        if position >= len(positional):
            return []
        kind = positional[position].kind
        if kind.choices:
            return list(kind.choices)
        agents = self.view("agents")
        if kind.complete == "agent":
            return list(getattr(agents, "briefs", {}))
        if kind.complete == "tenant":
            return sorted({b.tenant for b in getattr(agents, "briefs", {}).values() if b.tenant})
        if kind.complete == "dependency":
            return list(getattr(self.view("breakers"), "views", {}))
        if kind.complete == "flag":
            return list(getattr(self.view("flags"), "flags", {}))
        if kind.complete == "request":  # pending four-eyes requests: each ask ends with its id
            return [ask.rsplit(" ", 1)[-1] for ask in self.asks]
        return []

    def action_decide(self, name: str) -> None:
        """y / x: approve or reject the oldest pending four-eyes request (the ⚑ line) that
        someone else asked for, through its row of the operations table (it confirms)."""
        theirs = [a for a in self.asks if not a.startswith(f"{self.operator.name} asks: ")]
        if not theirs:
            mine = " (yours need another operator)" if self.asks else ""
            self.toast(f"no four-eyes request to decide{mine}", severity="warning")
            return
        self.post_message(OperationRequested(name, {"request": theirs[0].rsplit(" ", 1)[-1]}))

    def action_help(self) -> None:
        from agentconsole.tui import help

        self.push_screen(help.HelpScreen(help.sections(self), help.commands(self)))

    def action_refresh(self) -> None:
        self.poll_now()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.toast("refresh paused (p resumes)" if self.paused else "refresh resumed")
        self.paint_header()
        if not self.paused:
            self.poll_now()
        elif self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _step_interval(self, direction: int) -> None:
        here = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        self.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, here + direction))]
        self.toast(f"refresh every {self.interval:g}s")
        self.paint_header()
        self._schedule_next()

    def action_faster(self) -> None:
        self._step_interval(-1)

    def action_slower(self) -> None:
        self._step_interval(+1)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: views, the current view's keys, and every operation available for
        the selected row (derived from the table: absent when the role or mode lacks it)."""
        for command in super().get_system_commands(screen):
            if command.title == "Keys":  # Textual's panel lists its own keys: ours instead
                yield SystemCommand("Keys", "this app's keys, by view (?)", self.action_help)
            else:
                yield command
        for cls in VIEW_CLASSES:
            title = cls.title
            yield SystemCommand(
                f"View: {title}", f"go to {title}", lambda v=cls.view_id: self.action_show(v)
            )
        view = self.current_view
        for binding in view.BINDINGS:
            if not isinstance(binding, Binding) or binding.action.startswith("op("):
                continue  # operations are offered below, with the selection's arguments
            if view.check_action(binding.action, ()):
                yield SystemCommand(
                    f"{view.title}: {binding.description}",
                    f"{binding.description} ({binding.key})",
                    lambda a=binding.action, v=view: v.run_action(a),
                )
        selection = view.selection()
        for op in ops.OPERATIONS:
            if not self.operations.available(op):
                continue
            args = ops.offers(op, selection)
            if args is None:
                continue
            yield SystemCommand(
                ops.command_line(op, ops.Call(op, args).args) if args else op.verb,
                op.summary + (" (asks first)" if op.destructive else ""),
                lambda o=op, a=args: self.post_message(OperationRequested(o.name, a)),
            )

    # --- runbooks -------------------------------------------------------------------

    def open_runbook(self, runbook_id: str, alert: Any = None) -> None:
        from agentconsole.tui.runbook_view import RunbookScreen

        try:
            screen = RunbookScreen(runbook_id, alert, settings=self.settings, backend=self.backend)
        except Exception as exc:
            self.toast(f"cannot open runbook {runbook_id}: {_describe(exc)}", severity="error")
            return
        self.push_screen(screen, lambda _=None: self.resume_refresh())

    # --- operations (the table's; see tui/operations.py) ---------------------------

    def on_operation_requested(self, message: OperationRequested) -> None:
        message.stop()
        self.operations.request(message)

    def on_notice(self, message: Notice) -> None:
        """A view's word for the operator (views post it, never call up into the app)."""
        message.stop()
        self.toast(message.text, severity=message.severity, title=message.title)

    def agents_painted(self) -> set[str]:
        """Agent ids on screen now (a kill's dialog counts the ones a filter hides)."""
        try:
            table = self.view("agents").found_table
        except NoMatches:
            return set()
        return set(table.painted) if table is not None else set()


def run_console(settings: Settings, options: AppOptions | None = None) -> int:
    """Entry point of ``agentconsole`` with no subcommand."""
    app = ConsoleApp(settings, options)
    try:
        result = app.run()
    finally:
        app.backend.stop()
    return int(result or app.return_code or 0)
