"""Guarded dependency calls, and the fleet-wide breaker transitions they cause.

Every call to a model, a tool or a service goes through :meth:`Guard.call` (or the
admit/settle pair for a ``with`` block): the local breaker decides in memory, the call is
timed and classified, transient failures are retried by the policy, and a window that says
"open" opens this process's breaker at once while the ``breaker_transition`` Lua script
opens it for the whole fleet in the background. Only a half-open trial asks Redis first.
Redis down: each process decides for itself (at most one local trial at a time).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from agentconsole.agent.breaker import TRIAL, BreakerBoard
from agentconsole.agent.errors import BreakerOpen
from agentconsole.agent.metrics import BREAKER_VALUE
from agentconsole.agent.retry import BREAKER_FAILURES, Failure, RetryPolicy
from agentconsole.agent.run import current_run

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from agentconsole.agent.logs import EventLog
    from agentconsole.agent.metrics import AgentMetrics
    from agentconsole.control.keys import Keys


class Guard:
    """One per runtime: breaker decisions, retries, call metrics, fleet transitions."""

    def __init__(
        self,
        board: BreakerBoard,
        metrics: AgentMetrics,
        log: EventLog,
        retry: RetryPolicy,
        classify: Callable[[BaseException], Failure | None],
        clock: Callable[[], float],
        spawn: Callable[[Awaitable[Any]], None],
    ) -> None:
        self.board = board
        self.metrics = metrics
        self.log = log
        self.retry = retry
        self.classify = classify
        self.clock = clock
        self._spawn = spawn
        self._script: AsyncScript | None = None
        self._keys: Keys | None = None
        self._lock = threading.Lock()  # windows are counted from the loop and from threads

    def attach(self, script: AsyncScript, keys: Keys) -> None:
        """Connect to the fleet: the registered ``breaker_transition`` script and the keys."""
        self._script, self._keys = script, keys

    # --- calls -----------------------------------------------------------------------------

    async def call(
        self,
        dependency: str,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        policy: RetryPolicy | None = None,
        timeout: float | None = None,
        before_retry: Callable[[], None] | None = None,
    ) -> Any:
        """``await fn(*args, **kwargs)`` behind the breaker, retried by ``policy``.

        ``before_retry`` runs before each new attempt (a run's kill/runaway check).
        """
        policy = policy or self.retry
        board = self.board
        started = policy.clock()
        attempt = 0
        while True:
            attempt += 1
            trial = await self.admit(dependency)
            t0 = time.perf_counter()
            try:
                if timeout is None:
                    result = await fn(*args, **kwargs)
                else:
                    async with asyncio.timeout(timeout):
                        result = await fn(*args, **kwargs)
            except asyncio.CancelledError:
                self.abandon(dependency, trial)
                raise
            except Exception as exc:
                elapsed = time.perf_counter() - t0
                failure = self.classify(exc) or Failure("server")
                if self.settle(dependency, elapsed, failure, trial):
                    await self.trial_result(dependency, False)
                wait = policy.next_wait(attempt, failure, started)
                if wait is None or board.effective(dependency) == "open":
                    raise
                if before_retry is not None:
                    before_retry()
                self.metrics.retries.labels(dependency).inc()
                await policy.sleep(wait)
                continue
            if self.settle(dependency, time.perf_counter() - t0, None, trial):
                await self.trial_result(dependency, True)
            return result

    def call_sync(
        self,
        dependency: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        policy: RetryPolicy | None = None,
        before_retry: Callable[[], None] | None = None,
    ) -> Any:
        """``fn(*args, **kwargs)`` from a plain thread, with the same guard as :meth:`call`.

        Decisions are made in the caller's thread (no hop to ``loop``) except a half-open
        trial, which asks the fleet through the runtime's loop. Retries sleep in the thread.
        """
        policy = policy or self.retry
        started = policy.clock()
        attempt = 0
        while True:
            attempt += 1
            trial = self.admit_sync(dependency, loop)
            t0 = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                elapsed = time.perf_counter() - t0
                failure = self.classify(exc) or Failure("server")
                if self.settle(dependency, elapsed, failure, trial):
                    _hop(self.trial_result(dependency, False), loop)
                wait = policy.next_wait(attempt, failure, started)
                if wait is None or self.board.effective(dependency) == "open":
                    raise
                if before_retry is not None:
                    before_retry()
                self.metrics.retries.labels(dependency).inc()
                time.sleep(wait)
                continue
            except BaseException:
                self.abandon(dependency, trial)
                raise
            if self.settle(dependency, time.perf_counter() - t0, None, trial):
                _hop(self.trial_result(dependency, True), loop)
            return result

    def admit_sync(self, dependency: str, loop: asyncio.AbstractEventLoop) -> bool:
        """:meth:`admit` from a plain thread: in memory, or a trial permit through ``loop``."""
        try:
            decision = self.board.check(dependency)
        except BreakerOpen:
            self.metrics.call_counter(dependency, "rejected").inc()
            raise
        return decision is TRIAL and _hop(self._admit_trial(dependency), loop)

    async def admit(self, dependency: str) -> bool:
        """Pass the breaker or raise BreakerOpen; True when this call is a half-open trial."""
        try:
            decision = self.board.check(dependency)
        except BreakerOpen:
            self.metrics.call_counter(dependency, "rejected").inc()
            raise
        return decision is TRIAL and await self._admit_trial(dependency)

    def abandon(self, dependency: str, trial: bool) -> None:
        """The admitted call was cancelled: give back a trial permit held locally."""
        if trial:
            self.board.get(dependency).local_trials = 0

    def settle(self, dependency: str, elapsed: float, failure: Failure | None, trial: bool) -> bool:
        """Count the call; True when it was a trial whose result must go to the fleet."""
        m = self.metrics
        if failure is None:
            m.call_counter(dependency, "success").inc()
        else:
            m.call_counter(dependency, "error").inc()
            m.dep_errors.labels(dependency, failure.kind).inc()
        m.duration(dependency).observe(elapsed)
        b = self.board.get(dependency)
        failed = failure is not None and failure.kind in BREAKER_FAILURES
        slow = elapsed >= b.config.slow_call_seconds
        if trial:
            b.trial_ok = not (failed or slow)
            return True
        with self._lock:
            should_open = b.record(failed, slow)
            opens = should_open and b.state == "closed" and self.board.mode(dependency) == "auto"
            if opens:
                b.state, b.opened_at, b.pending = "open", self.clock(), True
                rates = b.failure_rate, b.slow_rate
                b.reset_window()
        if opens:
            self._transition_log(dependency, "open", *rates)
            self._spawn(self._send_open(dependency))
        return False

    async def trial_result(self, dependency: str, ok: bool) -> None:
        """Tell the fleet how a half-open trial went and adopt the state it decides."""
        b = self.board.get(dependency)
        ok = ok and b.trial_ok
        b.local_trials = max(0, b.local_trials - 1)
        try:
            _, doc = await self._lua(dependency, "trial_ok" if ok else "trial_fail")
        except Exception:
            # no fleet to ask: decide for this process alone
            doc = {"state": "closed" if ok else "open", "opened_at": self.clock()}
        self._adopt(dependency, doc)

    # --- reporting -------------------------------------------------------------------------

    async def report(self) -> None:
        """Send pending transitions and the window statistics that changed since last time."""
        for dep, b in list(self.board.breakers.items()):
            if b.pending:
                await self._send_open(dep)
            elif b.dirty or b.rejected:
                rejected, b.rejected, b.dirty = b.rejected, 0, False
                try:
                    await self._lua(dep, "stats", rejected)
                except Exception:
                    b.rejected += rejected
                    raise

    def publish_states(self, dependencies: set[str]) -> None:
        """Set the state gauge of every dependency named (after a snapshot is applied)."""
        board, gauge = self.board, self.metrics.breaker_state
        for dep in dependencies | set(board.breakers):
            gauge.labels(dep).set(BREAKER_VALUE[board.effective(dep)])

    # --- fleet transitions through Lua -----------------------------------------------------

    async def _lua(self, dependency: str, action: str, rejected: int = 0) -> tuple[str, Any]:
        if self._script is None or self._keys is None:
            raise ConnectionError("not connected to the control plane")
        b = self.board.get(dependency)
        cfg = b.config
        keys = self._keys
        verdict, raw = await self._script(
            keys=[keys.breaker_state, keys.version],
            args=[
                dependency,
                action,
                f"{self.clock():.3f}",
                f"{b.failure_rate:.4f}",
                f"{b.slow_rate:.4f}",
                len(b.outcomes),
                rejected,
                cfg.wait_open,
                cfg.half_open_trials,
                cfg.close_after,
                keys.events,
            ],
        )
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        return verdict, json.loads(raw)

    async def _send_open(self, dependency: str) -> None:
        b = self.board.get(dependency)
        try:
            _, doc = await self._lua(dependency, "open", b.rejected)
        except Exception:
            return  # still pending: the reporter sends it again
        b.rejected = 0
        b.pending = False
        if doc.get("state") == "open":
            b.opened_at = float(doc.get("opened_at") or b.opened_at or self.clock())

    async def _admit_trial(self, dependency: str) -> bool:
        """Half-open: ask the fleet for one of its trial permits (the one Redis round trip)."""
        permitted, trial = await self._trial_permit(dependency)
        if not permitted:
            self.board.get(dependency).rejected += 1
            self.metrics.call_counter(dependency, "rejected").inc()
            raise BreakerOpen(dependency, "half-open, the fleet's trial calls are taken")
        return trial

    async def _trial_permit(self, dependency: str) -> tuple[bool, bool]:
        """(permitted, is_trial). Redis down: at most one local trial per process at a time."""
        b = self.board.get(dependency)
        try:
            verdict, doc = await self._lua(dependency, "trial")
        except Exception:
            if b.local_trials >= 1:
                return False, False
            b.local_trials += 1
            return True, True
        if verdict == "closed":
            self._adopt(dependency, doc)
            return True, False
        if doc.get("state") == "half_open" and b.state != "half_open":
            b.state = "half_open"
            self._transition_log(dependency, "half_open", b.failure_rate, b.slow_rate)
        return verdict == "permit", verdict == "permit"

    def _adopt(self, dependency: str, doc: dict[str, Any]) -> None:
        b = self.board.get(dependency)
        state = doc.get("state", "closed")
        if state != b.state:
            self._transition_log(dependency, state, b.failure_rate, b.slow_rate)
            if state == "closed":
                b.reset_window()
        b.state = state
        opened = doc.get("opened_at")
        b.opened_at = float(opened) if opened is not None else None
        self.metrics.breaker_state.labels(dependency).set(
            BREAKER_VALUE[self.board.effective(dependency)]
        )

    def _transition_log(self, dependency: str, state: str, fr: float, sr: float) -> None:
        self.metrics.breaker_state.labels(dependency).set(BREAKER_VALUE.get(state, 0))
        run = current_run.get(None)
        self.log.warning(
            "breaker.transition",
            f"breaker {dependency} is {state}",
            dependency=dependency,
            state=state,
            failure_rate=round(fr, 3),
            slow_rate=round(sr, 3),
            trace_id=run.trace_id if run is not None else "",
        )


def _hop(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> Any:
    """Run ``coro`` on the runtime's loop and wait for it in this (other) thread."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
