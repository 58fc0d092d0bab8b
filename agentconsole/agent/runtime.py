"""AgentRuntime: one per agent process; keeps the control-plane snapshot and obeys it.

Background tasks (never on the hot path):
- listener: pub/sub change events -> mark the snapshot dirty (bursts coalesce);
- sync: re-read the whole snapshot in one pipeline when dirty, every ``resync_interval``
  and after every reconnect, then apply it (kills cancel matching runs at once);
- heartbeat: one pipeline for every active run every heartbeat interval;
- reporter: breaker statistics, transitions and offline budget usage that could not be sent.

Redis down: runs continue on the last snapshot; kills and forced-open stay in force (fail
closed); flags use the code's default only when no snapshot was ever read. Past
``stale_limit`` seconds without a fresh snapshot the runtime is in safe mode (see
docs/agent-sdk.md): kill-switch flags read as engaged (off) and new runs are refused unless
``safe_mode_new_runs="allow"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agentconsole.agent import snapshot as snapmod
from agentconsole.agent.breaker import TRIAL, BreakerBoard, BreakerConfig
from agentconsole.agent.errors import BreakerOpen, TokenBudgetExceeded
from agentconsole.agent.flags import FlagClient
from agentconsole.agent.logs import EventLog
from agentconsole.agent.metrics import BREAKER_VALUE, metrics_for
from agentconsole.agent.retry import BREAKER_FAILURES, Failure, RetryPolicy, classify
from agentconsole.agent.run import Run, current_run
from agentconsole.agent.snapshot import Snapshot
from agentconsole.control.budgets import MICRO, BudgetExceeded, Reservation, today
from agentconsole.control.kills import ALL

if TYPE_CHECKING:
    from agentconsole.config import Settings
    from agentconsole.control.registry import AgentRecord

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
WRITE_CHUNK = 250
PRUNE_EVERY = 60.0  # seconds between index prunes per process (idempotent across the fleet)
# What changes while a run is going: the rest is written at registration and at the end.
HEARTBEAT_FIELDS = (
    "heartbeat_at",
    "steps",
    "tokens_in",
    "tokens_out",
    "cost",
    "applied_version",
    "model",
)


class _Batcher:
    """Collects registry writes made in the same loop iteration into one pipeline."""

    def __init__(self, flush: Callable[[list[AgentRecord]], Awaitable[None]]) -> None:
        self._flush = flush
        self._pending: dict[str, AgentRecord] = {}
        self._future: asyncio.Future[None] | None = None

    async def write(self, record: AgentRecord) -> None:
        self._pending[record.id] = record
        if self._future is None:
            loop = asyncio.get_running_loop()
            self._future = loop.create_future()
            loop.call_soon(lambda: loop.create_task(self._run()))
        await asyncio.shield(self._future)

    async def _run(self) -> None:
        future, records = self._future, list(self._pending.values())
        self._future, self._pending = None, {}
        assert future is not None
        try:
            await self._flush(records)
        except BaseException as exc:  # every waiter sees it; nobody is left hanging
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters may all be gone
            return
        if not future.done():
            future.set_result(None)


class AgentRuntime:
    """Create once per process, ``await start()``, then ``async with runtime.run(...)``."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: Any | None = None,
        resync_interval: float = 5.0,
        stale_limit: float = 60.0,
        safe_mode_new_runs: str = "refuse",
        kill_deadline: float = 2.0,
        heartbeat_interval: float | None = None,
        report_interval: float = 1.0,
        breaker: BreakerConfig | None = None,
        breakers: dict[str, BreakerConfig] | None = None,
        retry: RetryPolicy | None = None,
        classify_error: Callable[[BaseException], Failure | None] = classify,
        hash_user_ids: bool = False,
        hash_salt: str = "",
        offline_budget_fraction: float = 0.1,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        max_connections: int = 50,
    ) -> None:
        self.settings = settings
        self.resync_interval = resync_interval
        self.stale_limit = stale_limit
        if safe_mode_new_runs not in ("refuse", "allow"):
            raise ValueError("safe_mode_new_runs must be 'refuse' or 'allow'")
        self.safe_mode_new_runs = safe_mode_new_runs
        self.kill_deadline = kill_deadline
        self.heartbeat_interval = heartbeat_interval or settings.registry.heartbeat_seconds
        self.report_interval = report_interval
        self.retry = retry or RetryPolicy()
        self.classify = classify_error
        self.offline_budget_fraction = offline_budget_fraction
        self.clock = clock
        self.max_connections = max_connections
        self.host = host or socket.gethostname()
        self.pid = os.getpid()
        self.name = f"agent:{self.host}:{self.pid}"
        self._id_prefix = _SAFE_ID.sub("-", f"{self.host[:24]}-{self.pid}-{uuid.uuid4().hex[:6]}")
        self._ids = itertools.count(1)
        self.log = EventLog(hash_user_ids, hash_salt)
        self.metrics = metrics_for(registry)
        self.breakers = BreakerBoard(breaker, breakers, clock)
        self.flags = FlagClient(self)
        self.plane: Any = None
        self.redis: Any = None
        self._pubsub_client: Any = None
        self.snapshot: Snapshot | None = None
        self.applied_version = 0
        self.connected = False
        self.closed = False
        self._fresh_at = time.monotonic()
        self._runs: dict[str, Run] = {}
        self._dirty = asyncio.Event()
        self._applied = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._unsent: dict[str, AgentRecord] = {}
        self._offline_usage: dict[str, list[float]] = {}
        self._offline_commits: list[tuple[str, str, int, int]] = []
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._writer = _Batcher(self._write_records)
        self._breaker_script: Any = None
        self._metrics_server: Any = None
        self._deadline_runs: list[Run] = []
        self._deadline_timer: asyncio.TimerHandle | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, first_sync_timeout: float = 2.0) -> AgentRuntime:
        """Connect and read the first snapshot; an unreachable Redis is retried, not raised."""
        from agentconsole.control import ControlPlane, Keys, Operator
        from agentconsole.control.connection import connect
        from agentconsole.control.lua import register

        if self.plane is not None:
            return self  # already started
        self.redis = _bounded_pool(connect(self.settings.redis), self.max_connections)
        self._pubsub_client = connect(self.settings.redis, for_pubsub=True)
        keys = Keys(self.settings.redis.prefix)
        self.plane = ControlPlane(self.redis, keys, Operator(self.name, "viewer"), self.settings)
        self._breaker_script = register(self.redis, "breaker_transition")
        self._install_gauges()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(first_sync_timeout):
                await self.sync()
        loop = asyncio.get_running_loop()
        for job in (self._listen, self._sync_loop, self._heartbeat_loop, self._report_loop):
            self._tasks.append(loop.create_task(job(), name=f"agentconsole.{job.__name__}"))
        return self

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        pending = {*self._tasks, *self._spawned}
        for _ in range(50):  # a cancellation swallowed inside a client library is re-sent
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
            if not pending:
                break
        if self.connected:  # last chance for what is still queued: rows, usage, breakers
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._write_records([])
                    await self._report()
        for client in (self.redis, self._pubsub_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        if self._metrics_server is not None:
            with contextlib.suppress(Exception):
                self._metrics_server.shutdown()

    async def __aenter__(self) -> AgentRuntime:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def serve_metrics(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose /metrics of this runtime's registry (in a daemon thread)."""
        from prometheus_client import start_http_server

        started = start_http_server(port, addr=addr, registry=self.metrics.registry)
        self._metrics_server = started[0] if isinstance(started, tuple) else None

    # --- runs ---------------------------------------------------------------------------

    def run(
        self,
        *,
        task: str,
        user: str = "",
        tenant: str = "",
        trace_id: str | None = None,
        agent_id: str | None = None,
        model: str = "",
    ) -> Run:
        """``async with runtime.run(task=..., user=..., tenant=...) as run:``"""
        if self.plane is None or self.closed:
            raise RuntimeError("AgentRuntime is not running: `await runtime.start()` first")
        agent_id = _SAFE_ID.sub("-", agent_id)[:128] if agent_id else self.new_agent_id()
        return Run(self, agent_id, task, user, tenant, trace_id or uuid.uuid4().hex, model)

    def new_agent_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    @property
    def active_runs(self) -> int:
        return len(self._runs)

    @property
    def stale_seconds(self) -> float:
        return time.monotonic() - self._fresh_at

    @property
    def safe_mode(self) -> bool:
        return self.stale_seconds > self.stale_limit

    def on_snapshot(self, callback: Callable[[Snapshot], None]) -> None:
        """Call ``callback(snapshot)`` after each snapshot is applied (tests, benchmarks)."""
        self._listeners.append(callback)

    async def wait_for_version(self, version: int, timeout: float = 5.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self._applied:
                await self._applied.wait_for(lambda: self.applied_version >= version)
        except TimeoutError:
            return False
        return True

    # --- guarded dependency calls --------------------------------------------------------

    async def call(
        self,
        dependency: str,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """A guarded call outside any run: breaker, retries, metrics (no kill or step checks)."""
        return await self._guarded(dependency, fn, args, kwargs, retry, timeout, None)

    def guarded(
        self, dependency: str, *, retry: RetryPolicy | None = None, timeout: float | None = None
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        """Decorator: calls go through the current run's guard (or the runtime's)."""

        def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                run = current_run.get(None)
                if run is not None:
                    return await run.call(
                        dependency, fn, *args, retry=retry, timeout=timeout, **kwargs
                    )
                return await self._guarded(dependency, fn, args, kwargs, retry, timeout, None)

            return wrapper

        return decorate

    async def _guarded(
        self,
        dependency: str,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        policy: RetryPolicy | None,
        timeout: float | None,
        run: Run | None,
    ) -> Any:
        policy = policy or self.retry
        board = self.breakers
        started = policy.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                decision = board.check(dependency)
            except BreakerOpen:
                self.metrics.call_counter(dependency, "rejected").inc()
                raise
            trial = decision is TRIAL and await self._admit_trial(dependency)
            t0 = time.perf_counter()
            try:
                if timeout is None:
                    result = await fn(*args, **kwargs)
                else:
                    async with asyncio.timeout(timeout):
                        result = await fn(*args, **kwargs)
            except asyncio.CancelledError:
                if trial:
                    board.get(dependency).local_trials = 0
                raise
            except Exception as exc:
                elapsed = time.perf_counter() - t0
                failure = self.classify(exc) or Failure("server")
                if self._settle(dependency, elapsed, failure, trial):
                    await self._trial_result(dependency, False)
                wait = policy.next_wait(attempt, failure, started)
                if wait is None or board.effective(dependency) == "open":
                    raise
                if run is not None:
                    run.check()
                self.metrics.retries.labels(dependency).inc()
                await policy.sleep(wait)
                continue
            if self._settle(dependency, time.perf_counter() - t0, None, trial):
                await self._trial_result(dependency, True)
            return result

    async def _admit(self, dependency: str) -> bool:
        """Pass the breaker or raise BreakerOpen; True when this call is a half-open trial."""
        try:
            decision = self.breakers.check(dependency)
        except BreakerOpen:
            self.metrics.call_counter(dependency, "rejected").inc()
            raise
        return decision is TRIAL and await self._admit_trial(dependency)

    async def _admit_trial(self, dependency: str) -> bool:
        """Half-open: ask the fleet for one of its trial permits (the one Redis round trip)."""
        permitted, trial = await self._trial_permit(dependency)
        if not permitted:
            self.breakers.get(dependency).rejected += 1
            self.metrics.call_counter(dependency, "rejected").inc()
            raise BreakerOpen(dependency, "half-open, the fleet's trial calls are taken")
        return trial

    def _settle(
        self, dependency: str, elapsed: float, failure: Failure | None, trial: bool
    ) -> bool:
        """Count the call; True when it was a trial whose result must go to the fleet."""
        m = self.metrics
        if failure is None:
            m.call_counter(dependency, "success").inc()
        else:
            m.call_counter(dependency, "error").inc()
            m.dep_errors.labels(dependency, failure.kind).inc()
        m.duration(dependency).observe(elapsed)
        b = self.breakers.get(dependency)
        failed = failure is not None and failure.kind in BREAKER_FAILURES
        slow = elapsed >= b.config.slow_call_seconds
        if trial:
            b.trial_ok = not (failed or slow)
            return True
        should_open = b.record(failed, slow)
        if should_open and b.state == "closed" and self.breakers.mode(dependency) == "auto":
            b.state, b.opened_at, b.pending = "open", self.clock(), True
            self._transition_log(dependency, "open", b.failure_rate, b.slow_rate)
            b.reset_window()
            self._spawn(self._send_open(dependency))
        return False

    # --- breaker transitions through Lua ---------------------------------------------------

    async def _breaker_lua(
        self, dependency: str, action: str, rejected: int = 0
    ) -> tuple[str, dict[str, Any]]:
        import json

        b = self.breakers.get(dependency)
        cfg = b.config
        keys = self.plane.keys
        verdict, raw = await self._breaker_script(
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
        b = self.breakers.get(dependency)
        try:
            _, doc = await self._breaker_lua(dependency, "open", b.rejected)
        except Exception:
            return  # still pending: the reporter sends it again
        b.rejected = 0
        b.pending = False
        if doc.get("state") == "open":
            b.opened_at = float(doc.get("opened_at") or b.opened_at or self.clock())

    async def _trial_permit(self, dependency: str) -> tuple[bool, bool]:
        """(permitted, is_trial). Redis down: at most one local trial per process at a time."""
        b = self.breakers.get(dependency)
        try:
            verdict, doc = await self._breaker_lua(dependency, "trial")
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

    async def _trial_result(self, dependency: str, ok: bool) -> None:
        b = self.breakers.get(dependency)
        ok = ok and b.trial_ok
        b.local_trials = max(0, b.local_trials - 1)
        try:
            _, doc = await self._breaker_lua(dependency, "trial_ok" if ok else "trial_fail")
        except Exception:
            # no fleet to ask: decide for this process alone
            doc = {"state": "closed" if ok else "open", "opened_at": self.clock()}
        self._adopt(dependency, doc)

    def _adopt(self, dependency: str, doc: dict[str, Any]) -> None:
        b = self.breakers.get(dependency)
        state = doc.get("state", "closed")
        if state != b.state:
            self._transition_log(dependency, state, b.failure_rate, b.slow_rate)
            if state == "closed":
                b.reset_window()
        b.state = state
        opened = doc.get("opened_at")
        b.opened_at = float(opened) if opened is not None else None
        self.metrics.breaker_state.labels(dependency).set(
            BREAKER_VALUE[self.breakers.effective(dependency)]
        )

    def _transition_log(self, dependency: str, state: str, fr: float, sr: float) -> None:
        self.metrics.breaker_state.labels(dependency).set(BREAKER_VALUE.get(state, 0))
        self.log.warning(
            "breaker.transition",
            f"breaker {dependency} is {state}",
            dependency=dependency,
            state=state,
            failure_rate=round(fr, 3),
            slow_rate=round(sr, 3),
            trace_id=_trace(),
        )

    # --- budgets --------------------------------------------------------------------------

    def price(self, model: str, input_tokens: int, output_tokens: int) -> float:
        p = self.settings.prices.get(model)
        if p is None:
            return 0.0
        return input_tokens / 1000 * p.input_per_1k + output_tokens / 1000 * p.output_per_1k

    async def reserve(self, user: str, tokens: int, cost: float, run: Run | None) -> Reservation:
        try:
            if not self.connected:
                raise ConnectionError("control plane unreachable")
            # At least 1 token and 1 micro-USD held: the commit script negates the held
            # amounts, and Lua's -0 reaches Redis as "-0", which HINCRBY refuses. The
            # commit records the real usage, so the books are exact.
            return await self.plane.budgets.reserve(user, max(tokens, 1), max(cost, 1e-6))
        except BudgetExceeded as exc:
            raise self._rejected(exc.limit, exc.value, exc.used, exc.asked, run) from None
        except Exception as exc:
            if not _unreachable(exc):
                raise
        await asyncio.sleep(0)  # the offline path never waits: let the loop breathe
        return self._reserve_offline(user, tokens, cost, run)

    def _reserve_offline(self, user: str, tokens: int, cost: float, run: Run | None):
        """Redis down: per-request limit from the snapshot, and a small daily allowance."""
        limits = self.snapshot.limits if self.snapshot else self.plane.budgets.defaults()
        if tokens > limits.request_tokens:
            raise self._rejected("request_tokens", limits.request_tokens, 0, tokens, run)
        used = self._offline_usage.setdefault(user, [0.0, 0.0])
        cap_tokens = limits.user_daily_tokens * self.offline_budget_fraction
        cap_cost = limits.user_daily_cost_usd * self.offline_budget_fraction
        if used[0] + tokens > cap_tokens:
            raise self._rejected("user_daily_tokens", cap_tokens, used[0], tokens, run)
        if used[1] + cost > cap_cost:
            raise self._rejected("user_daily_cost_usd", cap_cost, used[1], cost, run)
        used[0] += tokens
        used[1] += cost
        return Reservation("offline", user, today(), tokens, round(cost * MICRO))

    async def commit(self, res: Reservation, tokens: int, cost: float) -> None:
        if res.member != "offline":
            try:
                await self.plane.budgets.commit(res, tokens, cost)
                return
            except Exception as exc:
                if not _unreachable(exc):
                    raise
        self._offline_commits.append((res.day, res.user, int(tokens), round(cost * MICRO)))

    def _rejected(
        self, limit: str, value: float, used: float, asked: float, run: Run | None
    ) -> TokenBudgetExceeded:
        self.metrics.budget_rejections.labels(limit).inc()
        self.log.warning(
            "budget.rejected",
            f"budget {limit} would be exceeded",
            limit=limit,
            value=value,
            used=used,
            asked=asked,
            user=run.user if run else "",
            tenant=run.tenant if run else "",
            agent_id=run.id if run else "",
            trace_id=run.trace_id if run else "",
        )
        return TokenBudgetExceeded(limit, value, used, asked)

    # --- snapshot -----------------------------------------------------------------------

    async def sync(self) -> Snapshot:
        """Read and apply the whole snapshot now (one round trip)."""
        snap = await snapmod.fetch(self.redis, self.plane.keys, self.plane.budgets.defaults())
        await self._apply(snap)
        return snap

    async def _apply(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self._fresh_at = time.monotonic()
        if not self.connected:  # back after an outage (or first contact): rewrite every row
            self._unsent.update({r.id: r.record for r in self._runs.values()})
        self.connected = True
        self.breakers.apply_snapshot(snap.modes, snap.observed)
        if snap.kills:
            for run in list(self._runs.values()):
                kill = snap.kill_for(run.id, run.tenant)
                if kill is not None:
                    run.kill(kill)
        m = self.metrics
        m.control_version.set(snap.version)
        m.controls_engaged.labels("kill_switch").set(
            sum(1 for f in snap.flags.values() if f.is_kill_switch and not f.enabled)
        )
        m.controls_engaged.labels("global_stop").set(1 if ALL in snap.kills else 0)
        m.controls_engaged.labels("tenant_stop").set(
            sum(1 for t in snap.kills if t.startswith("tenant:"))
        )
        for dep in set(snap.modes) | set(snap.observed) | set(self.breakers.breakers):
            m.breaker_state.labels(dep).set(BREAKER_VALUE[self.breakers.effective(dep)])
        self.applied_version = snap.version
        for run in self._runs.values():
            run.record.applied_version = snap.version
        for callback in self._listeners:
            with contextlib.suppress(Exception):
                callback(snap)
        async with self._applied:
            self._applied.notify_all()

    def _install_gauges(self) -> None:
        m = self.metrics
        m.active_runs.set_function(lambda: len(self._runs))
        m.run_max_steps.set_function(
            lambda: max((r.steps for r in list(self._runs.values())), default=0)
        )
        m.control_stale.set_function(lambda: self.stale_seconds)

    async def _listen(self) -> None:
        """Change events mark the snapshot dirty; a reconnect always triggers a resync."""
        from agentconsole.control.events import ChangeEvent

        delay = 0.05
        while not self.closed:
            pubsub = self._pubsub_client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.plane.keys.events)
                self._dirty.set()  # anything published before we listened
                delay = 0.05
                while not self.closed:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and ChangeEvent.parse(message["data"]) is not None:
                        self._dirty.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _sync_loop(self) -> None:
        delay = 0.05
        while not self.closed:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.resync_interval):
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closed:  # redis-py may turn our own cancellation into an error
                    return
                if self.connected:
                    self.log.warning(
                        "control.unreachable",
                        "control plane unreachable: running on the last snapshot",
                        error=type(exc).__name__,
                    )
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._dirty.set()

    async def _heartbeat_loop(self) -> None:
        next_prune = time.monotonic() + PRUNE_EVERY
        next_beat = time.monotonic()
        while not self.closed:
            # a fixed cadence: the time spent writing does not stretch the interval
            next_beat = max(next_beat + self.heartbeat_interval, time.monotonic())
            await asyncio.sleep(next_beat - time.monotonic())
            records = [r.record for r in self._runs.values() if r.id not in self._unsent]
            with contextlib.suppress(Exception):
                if self._unsent:
                    await self._write_records([])
                await self._write_records(records, HEARTBEAT_FIELDS)
            if time.monotonic() >= next_prune:  # the fleet keeps the registry's indexes tidy
                next_prune = time.monotonic() + PRUNE_EVERY
                with contextlib.suppress(Exception):
                    await self.plane.agents.prune()

    async def _write_records(
        self, records: list[AgentRecord], fields: tuple[str, ...] | None = None
    ) -> None:
        """Pipelines of at most WRITE_CHUNK records, so the event loop never stalls long.

        Whatever fails is kept and sent whole with the next heartbeat.
        """
        batch = {} if fields else {r.id: r for r in self._unsent.values()}
        batch.update({r.id: r for r in records})
        rows = list(batch.values())
        for start in range(0, len(rows), WRITE_CHUNK):
            chunk = rows[start : start + WRITE_CHUNK]
            try:
                await self.plane.agents.write_many(chunk, fields)
            except Exception:
                self._unsent.update({r.id: r for r in rows[start:]})
                raise
            for record in chunk:
                self._unsent.pop(record.id, None)

    async def write_record(self, record: AgentRecord) -> bool:
        """Registration, acknowledgement, final state: batched with concurrent writers."""
        try:
            await self._writer.write(record)
        except Exception:
            self._unsent[record.id] = record
            return False
        return True

    async def _report_loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.report_interval)
            if not self.connected:
                continue
            with contextlib.suppress(Exception):
                await self._report()

    async def _report(self) -> None:
        for dep, b in list(self.breakers.breakers.items()):
            if b.pending:
                await self._send_open(dep)
            elif b.dirty or b.rejected:
                rejected, b.rejected, b.dirty = b.rejected, 0, False
                try:
                    await self._breaker_lua(dep, "stats", rejected)
                except Exception:
                    b.rejected += rejected
                    raise
        while self._offline_commits:
            day, user, tokens, cost = self._offline_commits[0]
            res = Reservation("offline", user, day, tokens, cost)
            await self.plane.budgets.commit(res, tokens, cost / MICRO)
            self._offline_commits.pop(0)
        if not self._offline_commits:
            self._offline_usage.clear()

    def _arm_deadline(self, run: Run) -> None:
        """One timer for all the runs a kill stopped at once, not one per run."""
        self._deadline_runs.append(run)
        if self._deadline_timer is None:
            loop = asyncio.get_running_loop()
            self._deadline_timer = loop.call_later(self.kill_deadline, self._deadlines_due)

    def _deadlines_due(self) -> None:
        self._deadline_timer = None
        now = time.monotonic()
        due: list[Run] = []
        keep: list[Run] = []
        for run in self._deadline_runs:
            if run._finishing:
                continue  # it stopped in time
            late = now - (run.stopped_at or now) >= self.kill_deadline - 0.001
            (due if late else keep).append(run)
        self._deadline_runs = keep
        for run in due:
            run._deadline_passed()
        if self._deadline_runs:
            first = min(r.stopped_at or now for r in self._deadline_runs)
            loop = asyncio.get_running_loop()
            self._deadline_timer = loop.call_later(
                max(0.0, first + self.kill_deadline - now), self._deadlines_due
            )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)


def _bounded_pool(client: Any, max_connections: int) -> Any:
    """Callers queue for a connection instead of failing when many agents call at once.

    redis-py's default pool refuses the 101st concurrent command with "Too many
    connections", which would read as Redis being down. Sentinel and Cluster clients keep
    their own pools.
    """
    from redis.asyncio import BlockingConnectionPool, ConnectionPool

    old = getattr(client, "connection_pool", None)
    if type(old) is not ConnectionPool:
        return client
    client.connection_pool = BlockingConnectionPool(
        connection_class=old.connection_class,
        max_connections=max_connections,
        timeout=None,
        **old.connection_kwargs,
    )
    return client


def _unreachable(exc: BaseException) -> bool:
    from agentconsole.control.errors import Unavailable
    from agentconsole.control.plane import translate

    return isinstance(translate(exc), Unavailable)


def _trace() -> str:
    run = current_run.get(None)
    return run.trace_id if run is not None else ""
