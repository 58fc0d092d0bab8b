"""The console application: views, polling, live events, and every operator action.

Data flow: a poll worker runs the current view's loader on the backend's I/O thread, and
posts :class:`Fetched`; the handler paints it in one batch and schedules the next poll
(so polls never overlap). Change events from other operators arrive as
:class:`ChangeNotice` and trigger an early refresh. Actions run in workers too; their
toasts say what actually happened, as the control plane reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static

from agentconsole.config import Settings
from agentconsole.control.roles import Operator
from agentconsole.tui import fmt, rollout_panel
from agentconsole.tui.backend import Backend, Health
from agentconsole.tui.header import HeaderBar, HeaderState
from agentconsole.tui.modals import ConfirmScreen, Decision, HelpScreen, RolloutScreen
from agentconsole.tui.safe import clean
from agentconsole.tui.views.agents import AgentsView
from agentconsole.tui.views.audit import AuditView
from agentconsole.tui.views.base import View
from agentconsole.tui.views.breakers import BreakersView
from agentconsole.tui.views.flags import FlagsView
from agentconsole.tui.views.overview import WINDOWS, OverviewView
from agentconsole.tui.views.runbooks import RunbooksView

VIEW_CLASSES: tuple[type[View], ...] = (
    OverviewView,
    AgentsView,
    FlagsView,
    BreakersView,
    AuditView,
    RunbooksView,
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
    agent_limit: int = 20_000
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


def _describe(exc: BaseException) -> str:
    from agentconsole.control.plane import translate

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
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("1", "show('overview')", "Overview", id="view.overview"),
        Binding("2", "show('agents')", "Agents", id="view.agents"),
        Binding("3", "show('flags')", "Flags", id="view.flags"),
        Binding("4", "show('breakers')", "Breakers", id="view.breakers"),
        Binding("5", "show('audit')", "Audit", id="view.audit"),
        Binding("6", "show('runbooks')", "Runbooks", id="view.runbooks"),
        Binding("colon", "command", "Command", id="app.command"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", id="app.back", show=False),
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh"),
        Binding("p", "pause", "Pause", id="app.pause"),
        Binding("plus", "faster", "Faster", id="app.faster", show=False),
        Binding("minus", "slower", "Slower", id="app.slower", show=False),
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
            yield Input(id="cmdline")
        yield Footer()

    def on_mount(self) -> None:
        if self.options.gc_freeze:
            import gc

            gc.disable()  # see _settle_heap
            gc.freeze()
        if self.settings.ui.keymap:
            self.set_keymap(dict(self.settings.ui.keymap))
        self.backend.start()
        if self.options.live_events:
            self.backend.watch_events(
                lambda event: self.post_message(ChangeNotice(event)),
                lambda ok, error: self.post_message(EventsState(ok, error)),
            )
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
        async def load(backend: Backend) -> tuple[Any, str | None, list[str], list[str]]:
            from agentconsole.control import approvals
            from agentconsole.control.tolerant import problems_of

            plane = backend.plane()
            plane.reset = await plane.reset_status()  # also refuses this console's changes
            reset = plane.reset.banner() if plane.reset else None
            counts = await plane.agents.applied_counts()
            asks = [r.ask() for r in await approvals.pending(plane)]  # four-eyes requests
            problems = problems_of(plane.redis, time.monotonic() - PROBLEM_WINDOW)
            return counts, reset, problems, asks

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
        view = self.view(message.view_id)
        redis_error = message.header_error or (
            message.error if message.view_id != "runbooks" else None
        )
        data = message.data
        if data is not None and getattr(data, "redis_error", None):
            redis_error = redis_error or RuntimeError(data.redis_error)
        if redis_error is None:
            if self.redis_health.success(now):
                self.toast("Redis is back: live data again")
        elif self.redis_health.failure(now, _describe(redis_error)):
            # "last values" only if there ever were any: at start there is nothing to keep
            kept = "showing last values" if self.redis_health.last_ok else "nothing to show yet"
            self.toast(f"{_describe(redis_error)} — {kept}, retrying", severity="error")
        prom_ok = getattr(data, "prometheus_ok", None)
        if prom_ok is True and self.prometheus_health.success(now):
            self.toast("Prometheus is back")
        elif prom_ok is False and self.prometheus_health.failure(now, "unreachable"):
            self.toast("Prometheus unreachable — panels greyed, retrying", severity="warning")
        if message.header is not None:
            self.applied, self.reset_banner, self.key_problems, self.asks = message.header
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

    async def wait_for_paint(self, view_id: str, count: int = 1, timeout: float = 10.0) -> None:
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
        view_title = next(c.title for c in VIEW_CLASSES if c.view_id == self.current)
        state = HeaderState(
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
            events_ok=self.events_ok,
        )
        self.query_one(HeaderBar).show(state)

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
        self.notify(clean(text, 400), title=title, severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

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

    def action_back(self) -> None:
        bar = self.query_one("#cmdbar")
        table = self.current_view.table
        if bar.has_class("active"):
            self._close_cmdline()
        elif table is not None and table.filter_text:
            table.set_filter("")
            self.toast("filter cleared")
        elif self.history:
            self._switch(self.history.pop())

    def action_command(self) -> None:
        self._open_cmdline("command", "", "view, refresh N, pause, window 1h, q …")

    def action_filter(self) -> None:
        table = self.current_view.table
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
        if view.table is not None:
            view.table.set_filter(value)
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
        for cls in VIEW_CLASSES:
            if verb in cls.aliases:
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
        elif verb == "pause":
            self.paused = False
            self.action_pause()
        elif verb == "resume":
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
            self.toast(f"unknown command: {clean(line, 60)} (? for help)", severity="warning")

    def action_help(self) -> None:
        keys = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.description and active.enabled:
                keys.append((self.get_key_display(binding), binding.description))
        self.push_screen(HelpScreen(keys, self.COMMAND_HELP))

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
        """The palette lists views and the actions this operator may take, nothing more."""
        yield from super().get_system_commands(screen)
        for cls in VIEW_CLASSES:
            title = cls.title
            yield SystemCommand(
                f"View: {title}", f"go to {title}", lambda v=cls.view_id: self.action_show(v)
            )
        view = self.current_view
        for binding in view.BINDINGS:
            if isinstance(binding, Binding) and view.check_action(binding.action, ()):
                yield SystemCommand(
                    f"{view.title}: {binding.description}",
                    f"{binding.description} ({binding.key})",
                    lambda a=binding.action, v=view: v.run_action(a),
                )

    # --- runbooks -------------------------------------------------------------------

    def open_runbook(self, runbook_id: str, alert: Any = None) -> None:
        try:
            from agentconsole.tui.runbook_view import RunbookScreen
        except ImportError:
            self.toast("runbooks not available in this build", severity="warning")
            return
        offered = {
            "runbook_id": runbook_id,
            "runbook": runbook_id,
            "alert": alert,
            "settings": self.settings,
            "backend": self.backend,
            "operator": self.operator,
        }
        try:
            params = inspect.signature(RunbookScreen).parameters
            kwargs = {k: v for k, v in offered.items() if k in params}
            screen = RunbookScreen(**kwargs) if kwargs else RunbookScreen(runbook_id)
        except Exception as exc:
            self.toast(f"cannot open runbook {runbook_id}: {_describe(exc)}", severity="error")
            return
        self.push_screen(screen, lambda _=None: self.resume_refresh())

    # --- actions: kills -------------------------------------------------------------

    def _ask(self, screen: ModalScreen, then: Callable[[Any], None]) -> None:
        def done(result: Any) -> None:
            if result is not None:
                then(result)
            self.resume_refresh()

        self.push_screen(screen, done)

    def _agents_painted(self) -> set[str]:
        table = self.view("agents").table
        return set(table.painted) if table is not None else set()

    def confirm_kill(
        self,
        *,
        title: str,
        targets: list[str],
        hidden: int,
        kills: list[dict[str, Any]],
        after: Callable[[], None] | None = None,
    ) -> None:
        if not self.allowed("kill.agent"):
            return
        detail = f"{hidden} of them hidden by the current filter. " if hidden else ""
        detail += "Each agent stops at its next step and acknowledges."

        def go(decision: Decision) -> None:
            self.run_kills(kills, decision.reason, what=title.lower())
            if after is not None:
                after()

        self._ask(ConfirmScreen(title, targets, detail=detail, verb="Kill"), go)

    def confirm_scope_kill(
        self, target: str, *, tenant: str | None = None, everything: bool = False
    ) -> None:
        permission = "kill.all" if everything else "kill.tenant"
        if self.allowed(permission):
            self._scope_kill_worker(target, tenant, everything)

    @work(group="action", exit_on_error=False)
    async def _scope_kill_worker(self, target: str, tenant: str | None, everything: bool) -> None:
        async def affected(backend: Backend) -> list[str]:
            return await backend.plane().kills.affected_ids(target)

        try:
            ids = await self.backend.run(affected)
        except Exception as exc:
            self.report(exc, "listing the agents to kill")
            return
        hidden = len(set(ids) - self._agents_painted())
        if everything:
            title = f"GLOBAL STOP: kill every agent ({len(ids)} running now) and all new ones"
        else:
            title = f"Kill tenant {tenant}: {len(ids)} running agents, and new ones of the tenant"
        detail = f"{hidden} of them hidden by the current filter or not loaded. " if hidden else ""
        detail += "The kill stays in force until cleared (agentconsole agents resume)."
        kill = {"everything": True} if everything else {"tenant": tenant}

        def go(decision: Decision) -> None:
            self.run_kills([kill], decision.reason, what=f"kill {target}")

        self._ask(ConfirmScreen(title, ids, detail=detail, verb="Kill"), go)

    @work(group="action", exit_on_error=False)
    async def run_kills(self, kills: list[dict[str, Any]], reason: str, what: str) -> None:
        timeout = self.options.ack_timeout

        async def go(backend: Backend) -> tuple[list[Any], Any, list[str]]:
            plane = backend.plane()
            since = time.time()
            outcomes, failures = [], []
            for kw in kills:
                try:
                    outcomes.append(await plane.kills.kill(**kw, reason=reason))
                except Exception as exc:
                    from agentconsole.control.errors import NotFound

                    if not isinstance(exc, NotFound):
                        raise
                    failures.append(str(exc))
            agent_ids = sorted({a for o in outcomes for a in o.agents})
            report = await plane.kills.wait_for_acks(agent_ids, since, timeout=timeout)
            return outcomes, report, failures

        try:
            outcomes, report, failures = await self.backend.run(go)
        except Exception as exc:
            first = kills[0] if kills else {}
            scope = (
                "kill.all" if "everything" in first else "kill.tenant" if "tenant" in first else ""
            )
            self.report(exc, what, scope or "kill.agent")
            return
        text = report.summary()
        if not report.acknowledged and not report.missing and outcomes:
            targets = ", ".join(o.target for o in outcomes[:3]) + (
                " …" if len(outcomes) > 3 else ""
            )
            text = f"kill in force for {targets}: no run was active, new runs are stopped"
        already = [o for o in outcomes if not o.created]
        if already:
            who = ", ".join(sorted({str(o.kill.get("requester", "?")) for o in already}))
            text += f"; {len(already)} kill(s) were already in force (by {who})"
        if failures:
            text += f"; {len(failures)} failed: {failures[0]}"
        self.toast(text, severity="warning" if report.missing or failures else "information")
        self.poll_now()

    # --- actions: flags -------------------------------------------------------------

    def toggle_flag(self, flag: Any) -> None:
        action = "flag.disable" if flag.enabled else "flag.enable"
        if not self.allowed(action):
            return
        if flag.is_kill_switch and flag.enabled:
            title = f"Disable kill-switch flag {flag.name}: this ENGAGES the kill switch"
            self._ask(
                ConfirmScreen(
                    title,
                    [flag.name],
                    detail="Agents stop the guarded feature now.",
                    verb="Disable",
                ),
                lambda d: self._flag_change(flag, "toggle", d.reason, ""),
            )
        else:
            self._flag_change(flag, "toggle", "", "")

    def ask_rollout(self, flag: Any) -> None:
        if self.allowed("flag.rollout"):
            self._rollout_worker(flag)

    @work(group="action", exit_on_error=False)
    async def _rollout_worker(self, flag: Any) -> None:
        stickiness = flag.stickiness

        async def population(backend: Backend) -> list[str]:
            agents = await backend.plane().agents.list(limit=2000)
            attr = {"user": "user", "tenant": "tenant"}.get(stickiness, "id")
            return sorted({getattr(a, attr) for a in agents if getattr(a, attr)})

        try:
            keys = await self.backend.run(population)
        except Exception as exc:
            self.report(exc, "reading recent agents for the preview")
            return
        what = {"user": "users", "tenant": "tenants"}.get(stickiness, "agents")
        self._ask(
            RolloutScreen(flag, keys, what, preview_count),
            lambda d: self._flag_change(flag, "rollout", d.reason, d.value),
        )

    def _flag_change(self, flag: Any, kind: str, reason: str, value: str) -> None:
        self._flag_worker(flag, kind, reason, value)

    @work(group="action", exit_on_error=False)
    async def _flag_worker(self, flag: Any, kind: str, reason: str, value: str) -> None:
        name, version, enabled = flag.name, flag.version, flag.enabled

        async def go(backend: Backend) -> Any:
            flags = backend.plane().flags
            if kind == "rollout":
                return await flags.set_rollout(name, value, reason=reason, expected_version=version)
            change = flags.disable if enabled else flags.enable
            return await change(name, reason=reason, expected_version=version)

        try:
            new = await self.backend.run(go)
        except Exception as exc:
            self.report(
                exc,
                f"changing flag {name}",
                "flag.rollout"
                if kind == "rollout"
                else ("flag.disable" if enabled else "flag.enable"),
            )
            return
        state = "on" if new.enabled else "off"
        self.toast(f"flag {new.name} is now {state}, rollout {new.rollout} (v{new.version})")
        self.poll_now()

    # --- actions: breakers ----------------------------------------------------------

    def confirm_breaker(self, dependency: str, kind: str) -> None:
        permission = "breaker.trip" if kind == "trip" else "breaker.force_close"
        if not self.allowed(permission):
            return
        if kind == "trip":
            title = f"Trip breaker {dependency}: every agent stops calling it"
            detail = "Calls are rejected at once (counted as rejected), until reset or deadline."
            verb = "Trip"
        else:
            title = f"Force-close breaker {dependency}: agents call it even while it fails"
            detail = "The automatic breaker is overridden until reset or deadline."
            verb = "Force close"
        self._ask(
            ConfirmScreen(title, [dependency], detail=detail, verb=verb, ask_duration=True),
            lambda d: self._breaker_worker(dependency, kind, d.reason, d.duration),
        )

    def breaker_auto(self, dependency: str) -> None:
        if self.allowed("breaker.reset"):
            self._breaker_worker(dependency, "auto", "", None)

    @work(group="action", exit_on_error=False)
    async def _breaker_worker(
        self, dependency: str, kind: str, reason: str, duration: float | None
    ) -> None:
        async def go(backend: Backend) -> Any:
            breakers = backend.plane().breakers
            if kind == "trip":
                return await breakers.trip(dependency, for_seconds=duration, reason=reason)
            if kind == "force_close":
                return await breakers.force_close(dependency, for_seconds=duration, reason=reason)
            return await breakers.reset(dependency, reason=reason)

        try:
            mode = await self.backend.run(go)
        except Exception as exc:
            action = {"trip": "breaker.trip", "force_close": "breaker.force_close"}
            self.report(exc, f"breaker {dependency}", action.get(kind, "breaker.reset"))
            return
        until = f" until {fmt.hms(mode.until)} UTC" if mode.until else ""
        self.toast(f"breaker {mode.dependency} is now {mode.mode}{until} (v{mode.version})")
        self.poll_now()


def preview_count(flag: Any, rollout_bp: int, keys: list[str]) -> int:
    """How many of ``keys`` a rollout of ``rollout_bp`` puts in the canary (flag on)."""
    probe = dataclasses.replace(flag, enabled=True, rollout_bp=rollout_bp)
    return sum(1 for k in keys if probe.evaluate(k))


def run_console(settings: Settings, options: AppOptions | None = None) -> int:
    """Entry point of ``agentconsole`` with no subcommand."""
    app = ConsoleApp(settings, options)
    try:
        result = app.run()
    finally:
        app.backend.stop()
    return int(result or app.return_code or 0)
