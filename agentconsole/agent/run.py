"""One agent run: registered, heartbeated, step-counted, killable, budgeted.

A kill cancels the task that entered ``async with runtime.run(...)``; the cancellation
surfaces as :class:`AgentKilled` from the guarded call it interrupted and from the
``async with`` itself (never as a bare CancelledError, so a ``gather`` of many agents keeps
going). A task that swallows the cancellation is cancelled again, and after
``kill_deadline`` seconds it is written off: acknowledged in the registry as killed, removed
from the heartbeats, and every guarded call, charge or step it still tries raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.agent.errors import (
    AgentKilled,
    AgentStopped,
    Drained,
    NewRunsRefused,
    RunawayStopped,
    TokenBudgetExceeded,
)
from agentconsole.agent.flags import typed_value, variant_label
from agentconsole.agent.logs import logger as _logger
from agentconsole.agent.retry import Failure, RetryPolicy
from agentconsole.control.budgets import BudgetExceeded, Limits
from agentconsole.control.holds import DRAIN, PAUSE, STATUS
from agentconsole.control.registry import AgentRecord

if TYPE_CHECKING:
    from agentconsole.agent.model_call import ModelCall
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.control.flags import Resolution

current_run: ContextVar[Run | None] = ContextVar("agentconsole_current_run", default=None)
RECANCEL_EVERY = 0.25
RECANCEL_TIMES = 40


@dataclass
class Usage:
    """Filled in by the caller inside ``run.reserve(...)`` with what the call really used."""

    model: str
    input_tokens: int
    output_tokens: int
    reported: bool = False

    def set(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens, self.output_tokens, self.reported = input_tokens, output_tokens, True


class Run:
    def __init__(
        self,
        runtime: AgentRuntime,
        agent_id: str,
        task: str,
        user: str,
        tenant: str,
        trace_id: str,
        model: str,
    ) -> None:
        self.runtime = runtime
        self.id = agent_id
        self.task_label = task
        self.user = user
        self.tenant = tenant
        self.trace_id = trace_id
        # What flags are evaluated against; agent code may add fields (run.context["plan"]).
        self.context = runtime.flags.context_for(
            user=user, tenant=tenant, agent=agent_id, model=model
        )
        self.record = AgentRecord(
            id=agent_id,
            task=task,
            user=user,
            tenant=tenant,
            model=model,
            trace_id=trace_id,
            host=runtime.host,
            pid=runtime.pid,
            applied_version=runtime.applied_version,
        )
        self.outcome: str | None = None
        # set by a background booking that found a daily limit reached: next call refused
        self.over_budget: TokenBudgetExceeded | None = None
        self.hook_call: ModelCall | None = None  # a model call opened from a framework hook
        self.pending_bookings = 0  # usage booked and not yet committed (or queued offline)
        self.abandoned = False
        self.stopped_at: float | None = None
        self._stop: AgentStopped | None = None
        self._scope = ""
        self._kill_doc: dict[str, Any] = {}
        self._task: asyncio.Task[Any] | None = None
        self._cancels = 0
        self._recancels = 0
        self._started = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._token: Token[Run | None] | None = None
        self._finishing = False
        self._ended = 0.0  # time.monotonic() when the run's end was recorded
        self._variants: dict[str, str | None] = {}  # flag -> the variant label this run got
        # a pause (control/holds.py) in force: guarded calls wait on these until it lifts
        self.paused: dict[str, Any] | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._resumed_thread = threading.Event()  # the same, for a sync run's thread
        self._resumed_thread.set()
        self._paused_at = 0.0
        self._held_for = 0.0  # seconds paused: not counted against run_max_seconds

    # --- what agent code uses -------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.record.steps

    @property
    def stopped(self) -> AgentStopped | None:
        return self._stop

    def step(self, n: int = 1) -> int:
        """Count one iteration of the agent loop; raises RunawayStopped past run_max_steps."""
        self.check()
        self.record.steps += n
        limit = self._limits().run_max_steps
        if self.record.steps > limit:
            exc = RunawayStopped("steps", limit, self.record.steps)
            self._stop_with(exc, "steps", cancel=False)
            raise exc
        return self.record.steps

    def check(self) -> None:
        """Raise now if the run was stopped (kill, runaway) or ran past its wall-clock limit."""
        if self._stop is not None:
            raise self._stop
        limit = self._limits().run_max_seconds
        elapsed = time.monotonic() - self._started - self._held_for
        if elapsed > limit:
            exc = RunawayStopped("seconds", limit, round(elapsed, 3))
            self._stop_with(exc, "seconds", cancel=False)
            raise exc

    async def checkpoint(self) -> None:
        """Where a paused run holds: wait here until the pause is lifted, then :meth:`check`.

        Guarded calls, ``charge`` and ``reserve`` call it; a loop without them can too. A
        kill interrupts the wait (``AgentKilled``), like any other await of the run.
        """
        self.check()
        if self.paused is None:  # the hot path: one attribute read more than check()
            return
        while self.paused is not None and self._stop is None:
            await self._converting(self._resumed.wait())
        self.check()

    def checkpoint_sync(self) -> None:
        """:meth:`checkpoint` for a sync run's thread: blocks the thread while paused."""
        self.check()
        if self.paused is None:
            return
        while self.paused is not None and self._stop is None:
            self._resumed_thread.wait(0.5)
        self.check()

    def apply_holds(self, pause: dict[str, Any] | None, drain: dict[str, Any] | None) -> bool:
        """The runtime tells the run which pause and drain are in force for it (on its loop).

        Returns True when the status the registry shows changed (paused, draining, running).
        """
        if self._stop is not None or self._finishing:
            return False
        now = time.monotonic()
        if pause is not None and self.paused is None:
            self._paused_at = now
            self._resumed.clear()
            self._resumed_thread.clear()
            if self._timer is not None:  # paused time is not run time
                self._timer.cancel()
        elif pause is None and self.paused is not None:
            self._held_for += now - self._paused_at
            self._resumed.set()
            self._resumed_thread.set()
            limit = self._limits().run_max_seconds
            left = max(0.0, limit - (now - self._started - self._held_for))
            self._timer = asyncio.get_running_loop().call_later(left, self._wall_clock, limit)
        self.paused = pause
        status = STATUS[PAUSE] if pause else STATUS[DRAIN] if drain else "running"
        if status == self.record.status:
            return False
        self.record.status = status
        return True

    def flag(self, name: str, default: bool = False) -> bool:
        """Flag for this run, keyed by the flag's stickiness (user, tenant or agent id)."""
        result = self._resolve(name)
        return default if result is None else result.on

    def variant(self, name: str) -> str | None:
        """The variant this run is served (None: off, no variants, or no such flag)."""
        result = self._resolve(name)
        return None if result is None else result.variant

    def value(self, name: str, default: Any) -> Any:
        """The served variant's payload, typed like ``default`` (else ``default``)."""
        return typed_value(self._resolve(name), default)

    def _resolve(self, name: str) -> Resolution | None:
        result = self.runtime.flags.resolve(name, self.context)
        if result is not None and name not in self._variants:
            # The first answer is the run's variant; None: the flag is not labelled.
            flag = self.runtime.flags.get(name)
            labelled = flag is not None and flag.labels_variants
            self._variants[name] = variant_label(result) if labelled else None
        return result

    async def call(
        self,
        dependency: str,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """``await fn(*args, **kwargs)`` behind the breaker, with retries and metrics."""
        if self._stop is not None:
            raise self._stop
        if self.paused is not None:
            await self.checkpoint()
        t0 = time.perf_counter()
        try:
            result = await self.runtime.guard.call(
                dependency, fn, args, kwargs, retry, timeout, self.check
            )
        except asyncio.CancelledError:
            if self._stop is not None:
                raise self._stop from None
            raise
        except Exception as exc:
            self.log_call(dependency, t0, type(exc).__name__)
            raise
        self.log_call(dependency, t0, "ok")
        return result

    @contextlib.asynccontextmanager
    async def guard(self, dependency: str) -> AsyncIterator[None]:
        """Context-manager form (no retries: a block cannot be re-run)."""
        await self.checkpoint()
        guard = self.runtime.guard
        trial = await guard.admit(dependency)
        t0 = time.perf_counter()
        try:
            yield
        except asyncio.CancelledError:
            if self._stop is not None:
                raise self._stop from None
            raise
        except Exception as exc:
            failure = guard.classify(exc) or Failure("server")
            if guard.settle(dependency, time.perf_counter() - t0, failure, trial):
                await guard.trial_result(dependency, False)
            raise
        if guard.settle(dependency, time.perf_counter() - t0, None, trial):
            await guard.trial_result(dependency, True)

    async def charge(self, *, model: str, input_tokens: int, output_tokens: int) -> float:
        """Price the call, reserve-then-commit it against the budgets; returns the cost (USD)."""
        await self.checkpoint()
        budget = self.runtime.budget
        tokens = int(input_tokens) + int(output_tokens)
        cost = budget.price(model, input_tokens, output_tokens)
        res = await self._converting(budget.reserve(self.user, tokens, cost, self))
        await self._converting(budget.commit(res, tokens, cost))
        self._account(model, input_tokens, output_tokens, cost)
        return cost

    def book(self, *, model: str, input_tokens: int, output_tokens: int) -> float:
        """Usage a framework reported for a call already made: counted now (registry,
        metrics), committed to the budgets in the background. Returns the cost (USD).

        Unlike :meth:`charge` nothing waits on Redis (bookings are coalesced per user, see
        ``BudgetGuard.book``); a booking that finds the user's daily limit reached makes the
        run's next model call refuse (see ``ModelCall``). Any thread.
        """
        budget = self.runtime.budget
        cost = budget.price(model, input_tokens, output_tokens)
        self._account(model, input_tokens, output_tokens, cost)
        self.pending_bookings += 1
        self.runtime.call_on_loop(budget.book, self, int(input_tokens) + int(output_tokens), cost)
        return cost

    @contextlib.asynccontextmanager
    async def reserve(
        self, *, model: str, input_tokens: int, max_output_tokens: int
    ) -> AsyncIterator[Usage]:
        """Hold the estimate before the call; commit what ``usage.set(...)`` reports after."""
        await self.checkpoint()
        budget = self.runtime.budget
        estimate = int(input_tokens) + int(max_output_tokens)
        res = await self._converting(
            budget.reserve(
                self.user, estimate, budget.price(model, input_tokens, max_output_tokens), self
            )
        )
        usage = Usage(model, int(input_tokens), int(max_output_tokens))
        ok = False
        try:
            yield usage
            ok = True
        finally:
            used = ok or usage.reported
            tokens = usage.input_tokens + usage.output_tokens if used else 0
            cost = budget.price(model, usage.input_tokens, usage.output_tokens) if used else 0.0
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(budget.commit(res, tokens, cost))
            if used:
                self._account(model, usage.input_tokens, usage.output_tokens, cost)

    # --- context manager --------------------------------------------------------------------

    async def __aenter__(self) -> Run:
        rt = self.runtime
        if rt.safe_mode and rt.safe_mode_new_runs == "refuse":
            rt.metrics.runs_refused.labels("safe_mode").inc()
            raise NewRunsRefused(
                f"safe mode: no fresh control-plane snapshot for {rt.stale_seconds:.0f} s "
                f"(limit {rt.stale_limit:g} s); new runs are refused"
            )
        snap = rt.snapshot
        drain = snap.hold_for(DRAIN, self.id, self.tenant) if snap else None
        if drain is not None and snap is not None and snap.kill_for(self.id, self.tenant) is None:
            # a drained target starts nothing new (running runs finish); a kill in force as
            # well wins below: the run is stopped and acknowledged as killed
            rt.metrics.runs_refused.labels("drain").inc()
            rt.log.info(
                "agent.refused",
                "new run refused: drained",
                agent_id=self.id,
                tenant=self.tenant,
                target=str(drain.get("target", "")),
            )
            raise Drained(
                str(drain.get("reason", "")),
                str(drain.get("requester", "")),
                str(drain.get("target", "")),
            )
        self._task = asyncio.current_task()
        self._started = time.monotonic()
        rt.track(self)
        self._token = current_run.set(self)
        limit = self._limits().run_max_seconds
        self._timer = asyncio.get_running_loop().call_later(limit, self._wall_clock, limit)
        rt.log.info(
            "agent.started",
            "agent started",
            agent_id=self.id,
            task=self.task_label[:200],
            user=self.user,
            tenant=self.tenant,
            trace_id=self.trace_id,
        )
        kill = rt.snapshot.kill_for(self.id, self.tenant) if rt.snapshot else None
        if kill is not None:  # a kill already in force stops the run before it starts
            self.kill(kill, cancel=False)
            stop = await self._finish(None)
            assert stop is not None
            raise stop
        if rt.snapshot is not None and rt.snapshot.holds:  # paused: holds at its first call
            self.apply_holds(rt.snapshot.hold_for(PAUSE, self.id, self.tenant), None)
        try:
            await rt.write_record(self.record)
        except asyncio.CancelledError as exc:
            out = await self._finish(exc)
            if out is exc:
                raise
            assert out is not None
            raise out from None
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        out = await self._finish(exc)
        if out is None or out is exc:
            return False
        raise out from None

    # --- stopping ------------------------------------------------------------------------

    def kill(self, doc: dict[str, Any], *, cancel: bool = True) -> None:
        """Called by the runtime when a kill matching this run is in the snapshot."""
        if self._stop is not None:
            return
        target = str(doc.get("target", ""))
        self._kill_doc = doc
        exc = AgentKilled(str(doc.get("reason", "")), str(doc.get("requester", "")), target)
        scope = target.split(":", 1)[0] if target else "all"
        self._stop_with(exc, scope, cancel=cancel)

    def _stop_with(self, exc: AgentStopped, scope: str, *, cancel: bool) -> None:
        if self._stop is not None:
            return
        self._stop, self._scope = exc, scope
        self.stopped_at = time.monotonic()
        # a paused run wakes to see the stop: its thread, and a wait on the loop that is not
        # the run's own task (a sync run's reserve or charge, awaited for its thread)
        if not self._resumed_thread.is_set():  # set unless paused: skip the lock
            self._resumed_thread.set()
            self.runtime.call_on_loop(self._resumed.set)
        if cancel and self._task is not None and not self._task.done() and not self._finishing:
            self._task.cancel(msg=str(exc))
            self._cancels += 1
            self.runtime.arm_deadline(self)

    def _wall_clock(self, limit: float) -> None:
        elapsed = round(time.monotonic() - self._started, 3)
        self._stop_with(RunawayStopped("seconds", limit, elapsed), "seconds", cancel=True)

    @property
    def finishing(self) -> bool:
        """The run is settling (or settled): a deadline no longer concerns it."""
        return self._finishing

    def deadline_passed(self) -> None:
        """The task ignored the cancellation: write it off, and keep cancelling it."""
        if self._finishing or self._task is None or self._task.done():
            return
        if not self.abandoned:
            self.abandoned = True
            self.runtime.forget(self)
            self._account_end(self._stop)
            self.runtime.log.warning(
                "agent.kill_deadline",
                "task ignored the cancellation: written off, guarded calls refused",
                agent_id=self.id,
                trace_id=self.trace_id,
                deadline=self.runtime.kill_deadline,
            )
            self.runtime.spawn(self._write_final())
        if self._recancels < RECANCEL_TIMES:
            self._recancels += 1
            self._task.cancel(msg="deadline passed")
            self._cancels += 1
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(RECANCEL_EVERY, self.deadline_passed)

    async def _finish(self, exc: BaseException | None) -> BaseException | None:
        """Settle the run once; returns what the ``async with`` should raise (None: nothing)."""
        if self._finishing:
            return exc
        self._finishing = True
        for handle in (self._timer, self._deadline):
            if handle is not None:
                handle.cancel()
        if self._token is not None:
            # try/except, not contextlib.suppress (an object and two calls per run, and a
            # kill settles hundreds in one turn of the loop); the same below
            try:  # noqa: SIM105
                current_run.reset(self._token)
            except ValueError:  # reset from another context (a thread's copy)
                pass
        task = self._task
        external = False
        if task is not None and self._cancels:
            for _ in range(self._cancels):
                if task.cancelling() == 0:
                    break
                task.uncancel()
            self._cancels = 0
        if isinstance(exc, asyncio.CancelledError):
            external = self._stop is None or (task is not None and task.cancelling() > 0)
        stop = self._stop
        if stop is not None:
            # The stop was raised while the task's cancellation was being handled: let that
            # go now (with its traceback and frames), not when the run's acknowledgement is
            # written. A kill parks hundreds of runs on that write; holding each one's
            # cancellation doubled the cyclic GC passes in the burst.
            stop.__context__ = None
        if self.abandoned:
            return exc if external else stop
        self.runtime.forget(self)
        ending = exc if stop is None else stop
        self._record_end(ending)
        if not isinstance(ending, AgentKilled):
            self._report_end(ending)
        try:  # noqa: SIM105
            await self._write_final()  # the batch goes on without this waiter
        except asyncio.CancelledError:
            pass
        if isinstance(ending, AgentKilled):
            # counted and logged just after the exit: one kill releases many runs in one
            # turn of the loop, and their metrics and logs must not hold the last one back
            self.runtime.report_soon(self._report_end, ending)
        if external:
            return exc
        if stop is not None:
            return stop
        return exc

    def _write_final(self) -> Coroutine[Any, Any, bool]:
        """A kill's acknowledgement goes with the others the same kill stopped (one
        pipeline per process); any other ending is the run's whole final row. (The
        runtime's coroutine itself, not one wrapping it: a frame fewer per killed run.)"""
        if self.record.status == "killed":
            return self.runtime.acknowledge(self.record)
        return self.runtime.write_record(self.record)

    def _account_end(self, exc: BaseException | None) -> None:
        self._record_end(exc)
        self._report_end(exc)

    def _record_end(self, exc: BaseException | None) -> None:
        """The run's final status (and a kill's acknowledgement) in its record."""
        rec = self.record
        if isinstance(exc, AgentKilled):
            outcome, rec.status = "killed", "killed"
            rec.kill_ack_at = time.time()
            rec.kill_id = str(self._kill_doc.get("id", ""))
            rec.killed_by = str(self._kill_doc.get("requester", ""))
            rec.kill_reason = str(self._kill_doc.get("reason", ""))
        elif exc is None:
            outcome, rec.status = "success", "finished"
        elif isinstance(exc, RunawayStopped | BudgetExceeded):
            outcome = "runaway" if isinstance(exc, RunawayStopped) else "budget_exceeded"
            rec.status = "failed"
        else:
            outcome, rec.status = "failure", "failed"
        self.outcome = outcome
        self._ended = time.monotonic()

    def _report_end(self, exc: BaseException | None) -> None:
        """The run's end in the metrics and the logs (after ``_record_end``)."""
        rt, m = self.runtime, self.runtime.metrics
        rec, outcome = self.record, self.outcome or "failure"
        if isinstance(exc, AgentKilled):
            m.killed(self._scope or "all")
            if _logger.isEnabledFor(logging.WARNING):  # a log's fields cost even unsent
                latency = self._ended - (self.stopped_at or self._ended)
                rt.log.warning(
                    "agent.killed",
                    "agent killed",
                    agent_id=self.id,
                    target=exc.target,
                    requester=exc.requester,
                    reason=exc.reason[:200],
                    stop_ms=round(latency * 1000, 2),
                    trace_id=self.trace_id,
                )
        elif isinstance(exc, RunawayStopped):
            m.runaway.labels(exc.limit).inc()
        elapsed = self._ended - self._started
        m.run_ended(outcome, elapsed, rec.steps)
        for name, variant in self._variants.items():
            if variant is not None:
                tokens = rec.tokens_in + rec.tokens_out
                m.flag_run(name, variant, outcome, elapsed, tokens, rec.cost)
        if not _logger.isEnabledFor(logging.INFO):
            return
        rt.log.info(
            "agent.completed",
            "agent completed",
            agent_id=self.id,
            outcome=outcome,
            success=outcome == "success",
            steps=rec.steps,
            tokens_in=rec.tokens_in,
            tokens_out=rec.tokens_out,
            cost_usd=round(rec.cost, 6),
            duration_s=round(elapsed, 3),
            user=self.user,
            tenant=self.tenant,
            trace_id=self.trace_id,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _limits(self) -> Limits:
        return self.runtime.budget.limits()

    async def _converting(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._stop is not None:
                raise self._stop from None
            raise

    def _account(self, model: str, input_tokens: int, output_tokens: int, cost: float) -> None:
        rec, m = self.record, self.runtime.metrics
        rec.tokens_in += int(input_tokens)
        rec.tokens_out += int(output_tokens)
        rec.cost += cost
        rec.model = model
        m.tokens.labels("input", model, self.tenant).inc(input_tokens)
        m.tokens.labels("output", model, self.tenant).inc(output_tokens)
        m.cost.labels(model, self.tenant).inc(cost)

    def log_call(self, dependency: str, t0: float, outcome: str) -> None:
        if not _logger.isEnabledFor(logging.INFO):
            return
        self.runtime.log.info(
            "tool.call",
            "tool call",
            agent_id=self.id,
            dependency=dependency,
            outcome=outcome,
            duration_ms=round((time.perf_counter() - t0) * 1000, 2),
            trace_id=self.trace_id,
        )
