"""One model request a framework makes for a run: the seam every integration uses.

Before the request (in memory, no Redis round trip): the run's kill and runaway checks, the
budget gate (a daily limit reached by an earlier booking, an estimate past the per-request
limit), one step counted, and the provider's breaker. After it: the breaker is settled with
the outcome (failures and slow calls feed the fleet-wide breaker) and the usage the
framework or the response reported is booked (``Run.book``: counted now, committed in the
background).

Layers: when a framework integration and a wrapped provider client both see the same
request, the outer one (the framework's) guards it and counts the step; the inner one only
checks the kill and books the usage from the response, and the outer one then books
nothing - so usage is never counted twice. "Outer" is the model call current in this
context, or one opened from a framework hook for the same run (``shared=True``: hooks that
run in tasks of their own cannot rely on context variables).

    async with ModelCall(runtime, run, "openai", model="gpt-4o") as call:
        response = await client_call()
        call.report(response.usage.input_tokens, response.usage.output_tokens)
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from agentconsole.agent.retry import Failure
from agentconsole.agent.run import current_run

if TYPE_CHECKING:
    from agentconsole.agent.run import Run
    from agentconsole.agent.runtime import AgentRuntime

current_model_call: ContextVar[ModelCall | None] = ContextVar(
    "agentconsole_current_model_call", default=None
)


def active_run() -> Run | None:
    """The run of this task (async) or of this thread (``run_sync``), if any."""
    run = current_run.get()
    if run is not None:
        return run
    from agentconsole.agent.sync import current_sync_run

    sync_run = current_sync_run.get()
    return sync_run.run if sync_run is not None else None


class ModelCall:
    """Guard before, settle and book after; a context manager or begin/succeeded/failed."""

    __slots__ = (
        "_token",
        "booked",
        "dependency",
        "done",
        "estimate",
        "model",
        "nested",
        "outer",
        "run",
        "runtime",
        "shared",
        "t0",
        "trial",
        "usage",
    )

    def __init__(
        self,
        runtime: AgentRuntime,
        run: Run | None,
        dependency: str,
        *,
        model: str = "",
        estimate_tokens: int | None = None,
        shared: bool = False,
    ) -> None:
        self.runtime = runtime
        self.run = run
        self.dependency = dependency
        self.model = model
        self.estimate = estimate_tokens
        self.shared = shared
        self.nested = False
        self.outer: ModelCall | None = None
        self.trial = False
        self.booked = False  # an inner layer booked this request's usage
        self.done = False
        self.usage: tuple[int, int, str] | None = None
        self.t0 = 0.0
        self._token: Token[ModelCall | None] | None = None

    # --- before ------------------------------------------------------------------------------

    async def begin(self) -> ModelCall:
        """Raise AgentKilled / RunawayStopped / TokenBudgetExceeded / BreakerOpen, or go (a
        paused run waits here first)."""
        if self.run is not None and self.run.paused is not None:
            await self.run.checkpoint()
        if not self._gate():
            self.trial = await self.runtime.guard.admit(self.dependency)
        self._enter()
        return self

    def begin_sync(self) -> ModelCall:
        """:meth:`begin` from a plain thread (the runtime's loop only for a half-open trial)."""
        if self.run is not None and self.run.paused is not None:
            self.run.checkpoint_sync()
        if not self._gate():
            loop = self.runtime.loop
            assert loop is not None, "the runtime is not started"
            self.trial = self.runtime.guard.admit_sync(self.dependency, loop)
        self._enter()
        return self

    def _gate(self) -> bool:
        """The in-memory checks; True when an outer layer already guards this request."""
        run = self.run
        outer = current_model_call.get()
        if outer is None and run is not None and not self.shared:
            outer = run.hook_call
        if outer is not None and outer.run is run and not outer.done:
            self.nested, self.outer = True, outer
            if run is not None:
                run.check()
            return True
        if run is not None:
            run.check()
            self.runtime.budget.gate(run, self.estimate)
            run.step()
        return False

    def _enter(self) -> None:
        self.t0 = time.perf_counter()
        self._token = current_model_call.set(self)
        if self.shared and self.run is not None:
            self.run.hook_call = self

    # --- after -------------------------------------------------------------------------------

    def report(self, input_tokens: int, output_tokens: int, model: str | None = None) -> None:
        """The usage of this request (booked when the call settles)."""
        self.usage = (int(input_tokens or 0), int(output_tokens or 0), model or self.model)

    def succeeded(self) -> None:
        if self.done:
            return
        self._leave()
        if not self.nested:
            self._settle(None)
        self._book()

    def failed(self, exc: BaseException) -> None:
        if self.done:
            return
        self._leave()
        self._book()  # a streamed response can fail after its usage was reported
        if self.nested:
            return
        if not isinstance(exc, Exception):  # cancelled (a kill) or interrupted
            self.runtime.guard.abandon(self.dependency, self.trial)
            return
        self._settle(self.runtime.guard.classify(exc) or Failure("server"), type(exc).__name__)

    def _settle(self, failure: Failure | None, outcome: str = "ok") -> None:
        guard = self.runtime.guard
        elapsed = time.perf_counter() - self.t0
        if guard.settle(self.dependency, elapsed, failure, self.trial):
            self.runtime.spawn(guard.trial_result(self.dependency, failure is None))
        if self.run is not None:  # the native SDK's "tool.call" log line (at INFO)
            self.run.log_call(self.dependency, self.t0, outcome)

    def _book(self) -> None:
        usage, run = self.usage, self.run
        if usage is None or run is None or self.booked:
            return
        run.book(model=usage[2], input_tokens=usage[0], output_tokens=usage[1])
        self.booked = True
        if self.outer is not None:
            self.outer.booked = True

    def _leave(self) -> None:
        self.done = True
        if self._token is not None:
            try:
                current_model_call.reset(self._token)
            except ValueError:  # settled from another context (a framework's hook task)
                current_model_call.set(self.outer)
            self._token = None
        if self.shared and self.run is not None and self.run.hook_call is self:
            self.run.hook_call = None

    # --- context managers --------------------------------------------------------------------

    async def __aenter__(self) -> ModelCall:
        return await self.begin()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.succeeded()
        else:
            self.failed(exc)

    def __enter__(self) -> ModelCall:
        return self.begin_sync()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.succeeded()
        else:
            self.failed(exc)


class ToolCall:
    """A tool call a framework makes for a run: the kill check and one step before it, and
    (opt-in, ``guarded=True``) the breaker named after the tool around it."""

    __slots__ = ("done", "guarded", "name", "run", "runtime", "t0", "trial")

    def __init__(self, runtime: AgentRuntime, run: Run | None, name: str, *, guarded: bool):
        self.runtime, self.run, self.name, self.guarded = runtime, run, name, guarded
        self.trial = self.done = False
        self.t0 = 0.0

    def _gate(self) -> None:
        if self.run is not None:
            self.run.check()
            self.run.step()

    async def begin(self) -> ToolCall:
        if self.run is not None and self.run.paused is not None:
            await self.run.checkpoint()
        self._gate()
        if self.guarded:
            self.trial = await self.runtime.guard.admit(self.name)
        self.t0 = time.perf_counter()
        return self

    def begin_sync(self) -> ToolCall:
        if self.run is not None and self.run.paused is not None:
            self.run.checkpoint_sync()
        self._gate()
        if self.guarded:
            loop = self.runtime.loop
            assert loop is not None, "the runtime is not started"
            self.trial = self.runtime.guard.admit_sync(self.name, loop)
        self.t0 = time.perf_counter()
        return self

    def succeeded(self) -> None:
        self._settle(None)

    def failed(self, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            self.done = True
            if self.guarded:
                self.runtime.guard.abandon(self.name, self.trial)
            return
        self._settle(self.runtime.guard.classify(exc) or Failure("server"), type(exc).__name__)

    def _settle(self, failure: Failure | None, outcome: str = "ok") -> None:
        if self.done:
            return
        self.done = True
        if self.run is not None:
            self.run.log_call(self.name, self.t0, outcome)
        if not self.guarded:
            return
        guard = self.runtime.guard
        if guard.settle(self.name, time.perf_counter() - self.t0, failure, self.trial):
            self.runtime.spawn(guard.trial_result(self.name, failure is None))
