"""AgentRuntime: one per agent process; keeps the control-plane snapshot and obeys it.

Background tasks (never on the hot path):
- listener: pub/sub change events carrying the next version's document are applied at
  once; any other event marks the snapshot dirty (bursts coalesce);
- sync: re-read the whole snapshot in one pipeline when dirty, at least every
  ``resync_interval`` (jittered) and after every reconnect, then apply it (kills cancel
  matching runs at once);
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
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agentconsole import text
from agentconsole.agent import snapshot as snapmod
from agentconsole.agent import tracing
from agentconsole.agent.breaker import BreakerBoard, BreakerConfig
from agentconsole.agent.budget import BudgetGuard
from agentconsole.agent.flags import FlagClient
from agentconsole.agent.guard import Guard
from agentconsole.agent.logs import EventLog
from agentconsole.agent.metrics import metrics_for
from agentconsole.agent.retry import Failure, RetryPolicy, classify
from agentconsole.agent.run import Run, current_run
from agentconsole.agent.snapshot import Snapshot
from agentconsole.agent.sync import LoopThread, SyncRun
from agentconsole.control.holds import DRAIN, PAUSE
from agentconsole.control.kills import ALL
from agentconsole.control.registry import HEARTBEAT_FIELDS, WriteMemo

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from agentconsole.config import Settings
    from agentconsole.control import ControlPlane
    from agentconsole.control.budgets import Limits
    from agentconsole.control.connection import RedisClient
    from agentconsole.control.events import ChangeEvent
    from agentconsole.control.keys import Keys
    from agentconsole.control.registry import AgentRecord

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
WRITE_CHUNK = 250
PRUNE_EVERY = 60.0  # seconds between index prunes per process (idempotent across the fleet)


class _Batcher:
    """Collects registry writes made in the same loop iteration into one pipeline.

    Each writer waits on a future of its own, resolved when the batch is written: a
    writer cancelled while it waits leaves the batch going for the others, and a kill
    that stops a thousand runs wakes them in one turn of the loop (no shield per waiter).
    """

    def __init__(
        self,
        flush: Callable[[list[AgentRecord]], Awaitable[None]],
        then: Callable[[list[AgentRecord]], None] | None = None,
    ) -> None:
        self._flush = flush
        self._then = then  # called with a written batch once its writers are released
        self._pending: dict[str, AgentRecord] = {}
        self._waiters: list[asyncio.Future[None]] | None = None
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly

    def write(self, record: AgentRecord) -> asyncio.Future[None]:
        """Queue ``record``; the future is done when its batch is written (a plain future,
        not a coroutine: one frame fewer to park and wake for each of a kill's runs)."""
        self._pending[record.id] = record
        loop = asyncio.get_running_loop()
        if self._waiters is None:
            self._waiters = []
            # its first step runs after every writer of this turn of the loop has joined
            self._task = loop.create_task(self._run())
        waiter = loop.create_future()
        self._waiters.append(waiter)
        return waiter

    async def _run(self) -> None:
        waiters, records = self._waiters or [], list(self._pending.values())
        self._waiters, self._pending = None, {}
        try:
            await self._flush(records)
        except BaseException as exc:  # every waiter sees it; nobody is left hanging
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # mark retrieved: its writer may be gone
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._then is not None:  # queued behind the writers' wake-ups: they go first
            asyncio.get_running_loop().call_soon(self._then, records)


class AgentRuntime:
    """Create once per process, ``await start()``, then ``async with runtime.run(...)``."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
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
        context: dict[str, Any] | None = None,
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
        self.guard = Guard(
            self.breakers, self.metrics, self.log, self.retry, classify_error, clock, self.spawn
        )
        self.budget = BudgetGuard(self, offline_budget_fraction)
        self.flags = FlagClient(self, context)  # context: region, custom fields for flags
        self.plane: ControlPlane | None = None
        self.redis: RedisClient | None = None
        self._pubsub_client: RedisClient | None = None
        self.snapshot: Snapshot | None = None
        self.keeper = snapmod.Keeper(self)
        self.applied_version = 0
        self.connected = False
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop start() ran on
        self._loop_thread_id: int | None = None
        self._owned: LoopThread | None = None  # start_sync(): a loop of our own
        self._fresh_at = time.monotonic()
        self._runs: dict[str, Run] = {}
        self._dirty = asyncio.Event()
        self._applied = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._unsent: dict[str, AgentRecord] = {}
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._writer = _Batcher(self._write_records)
        self._acks = _Batcher(self._write_acks, then=self._record_kills_soon)
        self._written = WriteMemo()  # what Redis holds of our rows: heartbeats send changes
        self._metrics_server: WSGIServer | None = None
        self._deadline_runs: list[Run] = []
        self._ends_to_report: list[tuple[Callable[[BaseException], None], BaseException]] = []
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._holding = False  # the last snapshot had drains or pauses

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, first_sync_timeout: float = 2.0) -> AgentRuntime:
        """Connect and read the first snapshot; an unreachable Redis is retried, not raised."""
        from agentconsole.control import ControlPlane, Keys, Operator
        from agentconsole.control.connection import connect
        from agentconsole.control.lua import register

        if self.plane is not None:
            return self  # already started
        self.loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        redis = self.redis = _bounded_pool(connect(self.settings.redis), self.max_connections)
        self._pubsub_client = connect(self.settings.redis, for_pubsub=True)
        keys = await self._registry_keys(redis, Keys, first_sync_timeout)
        self.plane = ControlPlane(redis, keys, Operator(self.name, "viewer"), self.settings)
        self.guard.attach(register(redis, "breaker_transition"), keys)
        self._install_gauges()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(first_sync_timeout):
                await self.sync()
                await self.plane.agents.load_scripts()  # the first kill waits for none
        loop = asyncio.get_running_loop()
        for job in (self._listen, self._sync_loop, self._heartbeat_loop, self._report_loop):
            self._tasks.append(loop.create_task(job(), name=f"agentconsole.{job.__name__}"))
        return self

    async def _registry_keys(
        self, redis: RedisClient, keys_type: type[Keys], timeout: float
    ) -> Keys:
        """The deployment's partition count wins over this process's setting: an agent
        configured otherwise would write where no console reads (unknown: the setting)."""
        from agentconsole.control.registry import stamped_partitions

        keys = keys_type(self.settings.redis.prefix, self.settings.registry.partitions)
        stamped = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                stamped = await stamped_partitions(redis, keys)
        if stamped is None or stamped == keys.partitions:
            return keys
        self.log.warning(
            "agent.registry_partitions",
            "registry.partitions differs from the one stamped in Redis: using Redis's",
            configured=keys.partitions,
            stamped=stamped,
        )
        return keys_type(self.settings.redis.prefix, stamped)

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
        with contextlib.suppress(Exception):  # the last window of booked usage, no timer left
            async with asyncio.timeout(2.0):
                await self.budget.flush_now()
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

    # --- synchronous programs (see agent/sync.py) ------------------------------------------

    def start_sync(self, first_sync_timeout: float = 2.0) -> AgentRuntime:
        """Start on an event loop of the runtime's own, in a daemon thread; returns at once
        after the first snapshot (or ``first_sync_timeout``) like ``await start()``."""
        if self._owned is None:
            self._owned = LoopThread().start()
        self._owned.run(self.start(first_sync_timeout))
        return self

    def close_sync(self) -> None:
        """Close (flushing what is queued) and stop the runtime's own loop."""
        if self._owned is None:
            raise RuntimeError("close_sync() closes a runtime started with start_sync()")
        owned, self._owned = self._owned, None
        owned.run(self.close())
        owned.stop()

    def __enter__(self) -> AgentRuntime:
        return self.start_sync()

    def __exit__(self, *exc: object) -> None:
        self.close_sync()

    def run_sync(
        self,
        *,
        task: str,
        user: str = "",
        tenant: str = "",
        trace_id: str | None = None,
        agent_id: str | None = None,
        model: str = "",
    ) -> SyncRun:
        """``with runtime.run_sync(task=..., user=..., tenant=...) as run:`` from a thread."""
        run = self.run(
            task=task,
            user=user,
            tenant=tenant,
            trace_id=trace_id,
            agent_id=agent_id,
            model=model,
        )
        assert self.loop is not None
        return SyncRun(run, self.loop)

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
        """``async with runtime.run(task=..., user=..., tenant=...) as run:``

        ``user``, ``tenant`` and ``agent_id`` follow the one name rule (``text.name``): what
        this accepts every operation can target; anything else fails here, clearly.
        """
        if self.plane is None or self.closed:
            raise RuntimeError("AgentRuntime is not running: `await runtime.start()` first")
        for what, value in (("user", user), ("tenant", tenant), ("agent id", agent_id)):
            if value:
                text.name(value, what)  # raises text.Invalid (a ValueError)
        agent_id = agent_id or self.new_agent_id()
        trace_id = trace_id or tracing.new_trace_id()  # the caller's OpenTelemetry trace
        return Run(self, agent_id, task, user, tenant, trace_id, model)

    def track(self, run: Run) -> None:
        """A run has started: heartbeat it and apply kills to it."""
        self._runs[run.id] = run

    def forget(self, run: Run) -> None:
        """A run has ended (or was written off)."""
        self._runs.pop(run.id, None)

    def new_agent_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    @property
    def control(self) -> ControlPlane:
        """The control plane :meth:`start` connected (``plane`` is None before that)."""
        if self.plane is None:
            raise RuntimeError("the agent runtime is not started: await runtime.start() first")
        return self.plane

    @functools.cached_property
    def limit_defaults(self) -> Limits:
        """The configured budget limits (what a snapshot without budgets falls back on)."""
        return self.control.budgets.defaults()

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
        return await self.guard.call(dependency, fn, args, kwargs, retry, timeout)

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
                return await self.guard.call(dependency, fn, args, kwargs, retry, timeout)

            return wrapper

        return decorate

    # --- snapshot -----------------------------------------------------------------------

    async def sync(self) -> Snapshot:
        """Read and apply the whole snapshot now (one round trip)."""
        before = self.snapshot  # an event may apply a newer version while we read
        plane = self.control
        snap = await snapmod.fetch(plane.redis, plane.keys, self.limit_defaults)
        snap = await self.keeper.admit(self.snapshot, snap, before)
        await self._apply(snap)
        return snap

    async def _on_event(self, event: ChangeEvent) -> None:
        """Apply an event's document at once; anything it cannot settle means re-read."""
        snap = self.snapshot
        new = None
        if snap is not None and not self.keeper.holding:
            new = snapmod.patched(snap, event, self.limit_defaults)
        if new is None:
            self._dirty.set()
        elif new is not snap:
            await self._apply(new)

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
        if snap.holds or self._holding:
            self._apply_holds(snap)
        m = self.metrics
        m.control_version.set(snap.version)
        m.engaged["kill_switch"].set(
            sum(1 for f in snap.flags.values() if f.is_kill_switch and not f.enabled)
        )
        m.engaged["global_stop"].set(1 if ALL in snap.kills else 0)
        m.engaged["tenant_stop"].set(sum(1 for t in snap.kills if t.startswith("tenant:")))
        self.guard.publish_states(set(snap.modes) | set(snap.observed))
        self.applied_version = snap.version
        for run in self._runs.values():
            run.record.applied_version = snap.version
        for callback in self._listeners:
            with contextlib.suppress(Exception):
                callback(snap)
        async with self._applied:
            self._applied.notify_all()

    def _apply_holds(self, snap: Snapshot) -> None:
        """Pause, resume or mark draining the matching runs; their new status is written."""
        self._holding = bool(snap.holds)
        for run in list(self._runs.values()):
            pause = snap.hold_for(PAUSE, run.id, run.tenant)
            if run.apply_holds(pause, snap.hold_for(DRAIN, run.id, run.tenant)):
                self.spawn(self.write_record(run.record))
        for kind in (DRAIN, PAUSE):
            engaged = sum(1 for name in snap.holds if name.startswith(f"{kind}:"))
            self.metrics.engaged[kind].set(engaged)

    def _install_gauges(self) -> None:
        m = self.metrics
        m.active_runs.set_function(lambda: len(self._runs))
        m.run_max_steps.set_function(
            lambda: max((r.steps for r in list(self._runs.values())), default=0)
        )
        m.run_step_limit.set_function(lambda: self.budget.limits().run_max_steps)
        m.control_stale.set_function(lambda: self.stale_seconds)

    async def _listen(self) -> None:
        """Change events mark the snapshot dirty; a (re)subscription always triggers a resync."""
        from agentconsole.control.events import subscribe_shared

        delay = 0.05

        def subscribed() -> None:
            nonlocal delay
            delay = 0.05
            self._dirty.set()  # anything published before we listened
            self._written.clear()  # (re)connected: Redis may have lost rows; send them whole

        while not self.closed:
            # one subscription per process: runtimes in it share the read and the decode
            events = subscribe_shared(self.settings.redis, self.control.keys.events, subscribed)
            try:
                async with contextlib.aclosing(events):
                    async for event in events:
                        await self._on_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _sync_loop(self) -> None:
        delay = 0.05
        while not self.closed:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                # jittered: runtimes started together (every one resyncs on subscribing)
                # would otherwise re-read all at once every interval, and a change event
                # arriving then would wait behind a process's worth of snapshot reads
                async with asyncio.timeout(self.resync_interval * random.uniform(0.5, 1.0)):
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
        next_beat = next_ttl = time.monotonic()
        ttl_every = self.control.agents.ttl / 4  # a full write sets it; heartbeats renew it
        while not self.closed:
            # a fixed cadence: the time spent writing does not stretch the interval
            next_beat = max(next_beat + self.heartbeat_interval, time.monotonic())
            await asyncio.sleep(next_beat - time.monotonic())
            records = [r.record for r in self._runs.values() if r.id not in self._unsent]
            with contextlib.suppress(Exception):
                if self._unsent:
                    await self._write_records([])
                renew = time.monotonic() >= next_ttl
                await self._write_records(records, HEARTBEAT_FIELDS, refresh_ttl=renew)
                if renew:
                    next_ttl = time.monotonic() + ttl_every
                    self._written.retain(self._runs)
            if time.monotonic() >= next_prune:  # the fleet keeps the registry's indexes tidy
                next_prune = time.monotonic() + PRUNE_EVERY
                with contextlib.suppress(Exception):
                    await self.control.agents.prune(lease=PRUNE_EVERY * 0.9)

    async def _write_records(
        self,
        records: list[AgentRecord],
        fields: tuple[str, ...] | None = None,
        *,
        refresh_ttl: bool = True,
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
                await self.control.agents.write_many(
                    chunk, fields, refresh_ttl=refresh_ttl, memo=self._written
                )
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

    async def acknowledge(self, record: AgentRecord) -> bool:
        """A killed run's acknowledgement, batched with every run the same kill stopped in
        this process: one pipeline of the acknowledgement indexes, which is what the run's
        ``async with`` waits for. The kill's fields in the rows follow at once, the whole
        row (counters, TTL) with the next heartbeat; until that is written it stays
        queued, so a Redis outage delays the acknowledgement but never loses it.
        """
        never_written = not record.started_at or record.id in self._unsent
        self._unsent[record.id] = record  # the whole row, acknowledgement included
        if never_written or not record.kill_id:
            # no row in Redis to add fields to (or a kill read unreadable, without an id,
            # so no acknowledgement index): the whole row, with its TTL
            return await self.write_record(record)
        try:
            await self._acks.write(record)
        except Exception:
            return False
        return True

    async def _write_acks(self, records: list[AgentRecord]) -> None:
        try:
            await self.control.agents.acknowledge_many(records)
        except Exception as exc:  # once per batch, not once per run
            self.log.warning(
                "agent.ack_deferred",
                "kill acknowledgements not written: sent with the rows when Redis answers",
                runs=len(records),
                error=type(exc).__name__,
            )
            raise

    def _record_kills_soon(self, records: list[AgentRecord]) -> None:
        """The kill in the acknowledged rows, just after their runs are out: the Agents view
        reads "killed" milliseconds after the indexes say so, not a heartbeat later."""
        self.spawn(self._record_kills(records))

    async def _record_kills(self, records: list[AgentRecord]) -> None:
        try:
            await self.control.agents.record_kills(records)
        except Exception as exc:  # the whole rows are queued: the next heartbeat sends them
            self.log.warning(
                "agent.kill_rows_deferred",
                "killed runs' rows not written: sent whole with the next heartbeat",
                runs=len(records),
                error=type(exc).__name__,
            )

    async def _report_loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.report_interval)
            if not self.connected:
                continue
            with contextlib.suppress(Exception):
                await self._report()

    async def _report(self) -> None:
        await self.guard.report()
        await self.budget.report()

    def report_soon(self, report: Callable[[BaseException], None], ending: BaseException) -> None:
        """``report(ending)`` just after the run's exit: every run one kill released in a
        turn of the loop is reported in one callback, once the last of them is out."""
        self._ends_to_report.append((report, ending))
        if len(self._ends_to_report) == 1:
            asyncio.get_running_loop().call_soon(self._report_ends)

    def _report_ends(self) -> None:
        ends, self._ends_to_report = self._ends_to_report, []
        for report, ending in ends:
            try:
                report(ending)
            except Exception as exc:  # one failed report must not lose the others
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "agentconsole: a run's end was not reported", "exception": exc}
                )

    def arm_deadline(self, run: Run) -> None:
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
            if run.finishing:
                continue  # it stopped in time
            late = now - (run.stopped_at or now) >= self.kill_deadline - 0.001
            (due if late else keep).append(run)
        self._deadline_runs = keep
        for run in due:
            run.deadline_passed()
        if self._deadline_runs:
            first = min(r.stopped_at or now for r in self._deadline_runs)
            loop = asyncio.get_running_loop()
            self._deadline_timer = loop.call_later(
                max(0.0, first + self.kill_deadline - now), self._deadlines_due
            )

    def call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` on the runtime's loop: now from its own thread, soon from others."""
        if self.loop is not None and threading.get_ident() != self._loop_thread_id:
            self.loop.call_soon_threadsafe(fn, *args)
        else:
            fn(*args)

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` in the background; closing the runtime cancels it. Any thread."""
        if self.loop is not None and threading.get_ident() != self._loop_thread_id:
            self.loop.call_soon_threadsafe(self.spawn, coro)
            return
        task = asyncio.ensure_future(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)


def _bounded_pool(client: RedisClient, max_connections: int) -> RedisClient:
    """Callers queue for a connection instead of failing when many agents call at once.

    redis-py's default pool refuses the 101st concurrent command with "Too many
    connections", which would read as Redis being down. Sentinel and Cluster clients keep
    their own pools.
    """
    from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

    old = getattr(client, "connection_pool", None)
    if not isinstance(client, Redis) or type(old) is not ConnectionPool:
        return client
    client.connection_pool = BlockingConnectionPool(
        connection_class=old.connection_class,
        max_connections=max_connections,
        timeout=None,
        **old.connection_kwargs,
    )
    return client
