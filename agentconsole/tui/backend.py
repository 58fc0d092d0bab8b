"""All I/O of the console runs on its own event loop, in its own thread.

Why a separate loop: decoding 10,000 agent hashes or a Prometheus answer is CPU work in
Python. Done on the UI loop it would delay key presses; done here, the UI loop only awaits
a future and paints the result. The console never touches Redis or Prometheus directly:
it submits coroutines with :meth:`Backend.run` (from workers) and receives pub/sub change
events through a thread-safe callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from agentconsole.config import Settings

if TYPE_CHECKING:
    from agentconsole.control import ControlPlane
    from agentconsole.control.events import ChangeEvent
    from agentconsole.metrics.service import MetricsService

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Health:
    """One data source's health as the header shows it: ok, or stale since a time, retrying."""

    name: str
    ok: bool | None = None  # None: not asked yet
    last_ok: float | None = None
    stale_since: float | None = None
    failures: int = 0
    error: str = ""

    def success(self, now: float) -> bool:
        """Record a success; True when this is a recovery (tell the operator once)."""
        recovered = self.ok is False
        self.ok, self.last_ok, self.stale_since, self.failures, self.error = (
            True,
            now,
            None,
            0,
            "",
        )
        return recovered

    def failure(self, now: float, error: str) -> bool:
        """Record a failure; True on the first one (tell the operator once, not every poll)."""
        first = self.ok is not False
        self.ok = False
        self.failures += 1
        self.error = error
        if self.stale_since is None:
            self.stale_since = self.last_ok or now
        return first

    def backoff(self, interval: float, cap: float = 30.0) -> float:
        """Next poll delay: the interval while healthy, doubling per failure up to ``cap``."""
        if not self.failures:
            return interval
        return min(cap, interval * (2 ** min(self.failures, 6)))


class Backend:
    """Owns the control plane and the metrics service, on the I/O thread's loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics_enabled: bool = True,
        timeout: float = 8.0,
    ) -> None:
        self.settings = settings
        self.metrics_enabled = metrics_enabled
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="agentconsole-io", daemon=True
        )
        self._plane: ControlPlane | None = None
        self._metrics: MetricsService | None = None
        self.metrics_problem: str | None = None
        self._events_task: asyncio.Future[None] | None = None
        self.started = False

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if not self.started:
            self._thread.start()
            self.started = True

    def stop(self) -> None:
        """Close connections and end the thread; bounded so quitting never hangs."""
        if not self.started:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=3)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=3)
        self.started = False

    async def _close(self) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            with contextlib.suppress(BaseException):
                await self._events_task
        if self._metrics is not None:
            with contextlib.suppress(Exception):
                await self._metrics.close()
        if self._plane is not None:
            with contextlib.suppress(Exception):
                await self._plane.close()

    # --- running work ---------------------------------------------------------------

    async def run(
        self, fn: Callable[Concatenate[Backend, P], Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(backend, *args)`` on the I/O loop; await it from the UI loop (cancellable)."""

        async def bounded() -> T:
            return await asyncio.wait_for(fn(self, *args, **kwargs), self.timeout)

        future = asyncio.run_coroutine_threadsafe(bounded(), self.loop)
        return await asyncio.wrap_future(future)

    # --- services (created on the I/O loop on first use) ------------------------------

    def plane(self) -> ControlPlane:
        if self._plane is None:
            from agentconsole.control import ControlPlane

            self._plane = ControlPlane.from_settings(self.settings)
        return self._plane

    def metrics(self) -> MetricsService | None:
        """The metrics service, or None with :attr:`metrics_problem` saying why."""
        if self._metrics is None and self.metrics_problem is None:
            if not self.metrics_enabled:
                self.metrics_problem = "metrics layer unavailable"
                return None
            from agentconsole.metrics.service import MetricsService

            try:
                self._metrics = MetricsService(self.settings, self.plane())
            except Exception as exc:  # a bad preset or URL: shown in the panel area
                self.metrics_problem = f"metrics layer unavailable: {exc}"
        return self._metrics

    # --- live change events -----------------------------------------------------------

    def watch_events(
        self, deliver: Callable[[ChangeEvent], object], on_state: Callable[[bool, str], object]
    ) -> None:
        """Forward change events to ``deliver`` (called on the I/O thread), resubscribing."""

        async def loop() -> None:
            from agentconsole.control import diagnostics

            delay = 0.5
            while True:
                try:
                    plane = self.plane()
                    stream = diagnostics.change_events(plane)
                    on_state(True, "")
                    delay = 0.5
                    async for event in stream:
                        deliver(event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    on_state(False, f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 15.0)

        def start() -> None:
            self._events_task = asyncio.ensure_future(loop())

        self.loop.call_soon_threadsafe(start)
