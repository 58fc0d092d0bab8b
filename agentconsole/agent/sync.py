"""The SDK from plain threads: a runtime whose event loop runs in a background thread.

    runtime = AgentRuntime(settings).start_sync()
    with runtime.run_sync(task="triage", user="u1", tenant="acme") as run:
        reply = run.call("openai", client.chat.completions.create, model=..., messages=...)
        run.charge(model="gpt-4o", input_tokens=900, output_tokens=200)
    runtime.close_sync()

A sync run is an ordinary :class:`~agentconsole.agent.run.Run` held open on the runtime's
loop while the thread works: registration, heartbeats, kills and acknowledgements are the
native SDK's. A thread cannot be interrupted, so a kill raises :class:`AgentKilled` in it
at its next ``run.call``, ``run.step``, ``run.check`` or ``run.charge`` (the check is in
memory, in the thread: no hop to the loop); a pause blocks the thread at its next
``run.step``, ``run.call`` or ``run.charge`` until lifted (a kill wakes it). The kill is
acknowledged when the thread leaves the ``with`` block, or written off after
``kill_deadline`` like an async task that ignores its cancellation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from agentconsole.agent.retry import RetryPolicy
    from agentconsole.agent.run import Run, Usage
    from agentconsole.agent.runtime import AgentRuntime

current_sync_run: ContextVar[SyncRun | None] = ContextVar(
    "agentconsole_current_sync_run", default=None
)


T = TypeVar("T")


class LoopThread:
    """An event loop of its own in a daemon thread (what ``start_sync`` runs the runtime on)."""

    def __init__(self, name: str = "agentconsole-runtime") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> LoopThread:
        self._thread.start()
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.loop.close()


class SyncRun:
    """``with runtime.run_sync(...) as run:`` - the Run API with plain (blocking) methods."""

    def __init__(self, run: Run, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.loop = loop
        self._holder: concurrent.futures.Future[None] | None = None
        self._entered: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._exit: asyncio.Future[BaseException | None] | None = None
        self._token: Token[SyncRun | None] | None = None

    # --- what agent code uses ---------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def trace_id(self) -> str:
        return self.run.trace_id

    @property
    def user(self) -> str:
        return self.run.user

    @property
    def tenant(self) -> str:
        return self.run.tenant

    @property
    def steps(self) -> int:
        return self.run.steps

    @property
    def runtime(self) -> AgentRuntime:
        return self.run.runtime

    def check(self) -> None:
        """Raise now if the run was killed or stopped (in memory, no I/O)."""
        self.run.check()

    def step(self, n: int = 1) -> int:
        """Count a step; a paused run's thread blocks here until the pause is lifted."""
        self.run.checkpoint_sync()
        return self.run.step(n)

    def flag(self, name: str, default: bool = False) -> bool:
        return self.run.flag(name, default)

    def variant(self, name: str) -> str | None:
        return self.run.variant(name)

    def value(self, name: str, default: Any) -> Any:
        return self.run.value(name, default)

    def call(
        self,
        dependency: str,
        fn: Callable[..., Any],
        *args: Any,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Any:
        """``fn(*args, **kwargs)`` behind the breaker, with retries and metrics, in this thread.

        No ``timeout=``: a thread cannot be interrupted; give the client its own timeout.
        """
        run = self.run
        run.checkpoint_sync()
        t0 = time.perf_counter()
        try:
            result = run.runtime.guard.call_sync(
                dependency, fn, args, kwargs, self.loop, retry, run.check
            )
        except Exception as exc:
            run.log_call(dependency, t0, type(exc).__name__)
            raise
        run.log_call(dependency, t0, "ok")
        return result

    def charge(self, *, model: str, input_tokens: int, output_tokens: int) -> float:
        """Reserve-then-commit on the control plane (through the runtime's loop)."""
        self.run.checkpoint_sync()
        return self._wait(
            self.run.charge(model=model, input_tokens=input_tokens, output_tokens=output_tokens)
        )

    @contextlib.contextmanager
    def reserve(self, *, model: str, input_tokens: int, max_output_tokens: int) -> Iterator[Usage]:
        """Hold the estimate before the call; commit what ``usage.set(...)`` reports after."""
        cm = self.run.reserve(
            model=model, input_tokens=input_tokens, max_output_tokens=max_output_tokens
        )
        usage = self._wait(cm.__aenter__())
        try:
            yield usage
        except BaseException as exc:
            self._wait(cm.__aexit__(type(exc), exc, exc.__traceback__))
            raise
        self._wait(cm.__aexit__(None, None, None))

    # --- context manager ----------------------------------------------------------------------

    def __enter__(self) -> SyncRun:
        if _on_loop(self.loop):
            raise RuntimeError("run_sync() is for plain threads; use `async with runtime.run()`")
        self._holder = asyncio.run_coroutine_threadsafe(self._hold(), self.loop)
        concurrent.futures.wait(
            [self._entered, self._holder], return_when=concurrent.futures.FIRST_COMPLETED
        )
        if not self._entered.done():
            self._holder.result()  # raises what refused the run (kill in force, safe mode)
        self._token = current_sync_run.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if self._token is not None:
            current_sync_run.reset(self._token)
            self._token = None
        assert self._holder is not None and self._exit is not None
        done = self._exit

        def finish() -> None:
            if not done.done():
                done.set_result(exc)

        self.loop.call_soon_threadsafe(finish)
        try:
            self._holder.result()
        except BaseException as out:
            if out is exc:
                return False
            raise out from None
        return False

    async def _hold(self) -> None:
        """Keep the run open on the loop until the thread leaves its ``with`` block.

        A kill cancels this task: it waits on, because the thread sees the kill at its next
        check; the runtime's kill deadline writes the run off if it never does.
        """
        run = self.run
        self._exit = asyncio.get_running_loop().create_future()
        async with run:
            self._entered.set_result(None)
            while True:
                try:
                    exc = await asyncio.shield(self._exit)
                    break
                except asyncio.CancelledError:
                    if run.stopped is None:
                        raise  # not a kill: the runtime is closing
            if exc is not None:
                raise exc

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
