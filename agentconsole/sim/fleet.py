"""A simulated fleet: N asyncio agents in one process, using only the SDK's public API.

Agents take turns: a run is a few LLM calls (lognormal latency) and tool calls, then the
agent thinks for a few seconds before its next run, so 1,000 agents need well under one
core. The runtime batches registrations and heartbeats into one pipeline per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentconsole.agent import (
    AgentKilled,
    BreakerConfig,
    BreakerOpen,
    DependencyError,
    NewRunsRefused,
    RetryPolicy,
    RunawayStopped,
    TokenBudgetExceeded,
)
from agentconsole.config import ModelPrice
from agentconsole.sim import framework_agents, scenarios
from agentconsole.sim.demo_flags import MODEL_TIER
from agentconsole.sim.llm import FakeLLM, FakeTool, lognormal

if TYPE_CHECKING:
    from agentconsole.agent import AgentRuntime
    from agentconsole.config import Settings

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
MODELS = {
    "acme": "gpt-4o",
    "globex": "gpt-4o-mini",
    "initech": "gpt-4o",
    "umbrella": "claude-sonnet",
    "hooli": "gpt-4o-mini",
}
# Used for models the config does not price (the config's own prices win).
SIM_PRICES = {
    "gpt-4o": ModelPrice(0.0025, 0.01),
    "gpt-4o-mini": ModelPrice(0.00015, 0.0006),
    "claude-sonnet": ModelPrice(0.003, 0.015),
    "claude-opus": ModelPrice(0.015, 0.075),
}
# Flags every simulated run asks, and the bug each one's new code path brings: the share of
# runs that got the flag on and fail because of it. planner-v2 is the demo's bad canary,
# summary-v3 its healthy one (docs/rollouts.md).
CANARY_BUGS = {"planner-v2": 0.15, "summary-v3": 0.0}


class CanaryBug(Exception):
    """A simulated bug in a flag's new code path."""


TASKS = (
    "summarise support ticket",
    "triage incoming alert",
    "draft customer reply",
    "classify invoice",
    "review pull request",
    "answer product question",
)


@dataclass
class FleetStats:
    started: float = field(default_factory=time.monotonic)
    runs: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    rejected: int = 0
    refused: int = 0  # runs not started: a drain in force, or safe mode
    tokens: int = 0
    cost: float = 0.0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    # (monotonic end time, outcome, seconds, cost) of recent runs: the truth that panels
    # computed by Prometheus over a window are checked against (tests/metrics)
    finished: deque[tuple[float, str, float, float]] = field(
        default_factory=lambda: deque(maxlen=50_000)
    )
    # (monotonic end time, tenant, cost) of the same runs: the spend forecast's truth
    charged: deque[tuple[float, str, float]] = field(default_factory=lambda: deque(maxlen=50_000))

    def count(self, outcome: str) -> None:
        self.runs[outcome] = self.runs.get(outcome, 0) + 1

    def since(self, start: float) -> list[tuple[float, str, float, float]]:
        """Runs that finished at or after ``start`` (time.monotonic())."""
        return [f for f in self.finished if f[0] >= start]

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())


class Fleet:
    def __init__(
        self,
        settings: Settings,
        agents: int,
        scenario: str = "steady",
        *,
        time_scale: float = 1.0,
        think_seconds: float = 3.0,
        seed: int | None = None,
        registry: Any | None = None,
        id_prefix: str = "sim",
        runtime: AgentRuntime | None = None,
        canary_bugs: dict[str, float] | None = None,
        frameworks: bool = True,
    ) -> None:
        if agents < 1:
            raise ValueError("--agents must be at least 1")
        self.story = scenario == "story"
        self.scenario = scenarios.get("steady" if self.story else scenario)
        self.settings = replace(settings, prices={**SIM_PRICES, **settings.prices})
        self.agents = agents
        self.time_scale = time_scale
        self.think = think_seconds
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.registry = registry
        self.id_prefix = id_prefix
        self.runtime = runtime
        self.canary_bugs = dict(CANARY_BUGS if canary_bugs is None else canary_bugs)
        rng = random.Random(self.seed)
        self.llm = FakeLLM(rng, time_scale=time_scale)
        self.search = FakeTool(rng, 0.15, time_scale)
        self.stats = FleetStats()
        self._stopping = False
        # some agents are written on a framework (sim/framework_agents.py), when installed
        self.frameworks_installed = framework_agents.available() if frameworks else set()
        self._frameworks: framework_agents.FrameworkAgents | None = None
        self.set_scenario(self.scenario.name)

    def set_scenario(self, name: str) -> None:
        self.scenario = scenarios.get(name)
        llm = self.scenario.llm
        self.llm.faults = replace(llm, retry_after=llm.retry_after * self.time_scale)
        self.search.faults = self.scenario.search

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        seconds: float | None = None,
        metrics_port: int | None = None,
        summary_every: float = 5.0,
        out: Callable[[str], None] | None = print,
    ) -> FleetStats:
        """Run until ``stop`` is set or ``seconds`` pass; never raises for an agent's failure."""
        from agentconsole.agent import AgentRuntime

        stop = stop or asyncio.Event()
        own_runtime = self.runtime is None
        if self.runtime is None:
            ts = self.time_scale
            self.runtime = AgentRuntime(
                self.settings,
                registry=self.registry,
                breaker=BreakerConfig(wait_open=15 * ts, slow_call_seconds=20 * ts),
                retry=RetryPolicy(max_attempts=3, base_delay=0.2 * ts, deadline=10 * ts),
                safe_mode_new_runs="allow",
            )
        rt = self.runtime
        self._frameworks = framework_agents.FrameworkAgents(rt, self.llm, self.search)
        if metrics_port is not None:
            rt.serve_metrics(metrics_port)
        if own_runtime:
            await rt.start()
        loop = asyncio.get_running_loop()
        workers = [loop.create_task(self._agent(i, stop)) for i in range(self.agents)]
        helpers = []
        if self.story:
            helpers.append(loop.create_task(self._story(stop)))
        if out is not None and summary_every > 0:
            helpers.append(loop.create_task(self._summaries(stop, summary_every, out)))
        try:
            if seconds is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        await stop.wait()
            else:
                await stop.wait()
        finally:
            stop.set()
            self._stopping = True
            # in-flight runs get a moment to finish, then are cancelled
            _, pending = await asyncio.wait(workers, timeout=5 * max(self.time_scale, 0.2))
            for task in (*pending, *helpers):
                task.cancel()
            await asyncio.gather(*workers, *helpers, return_exceptions=True)
            if out is not None:
                out(self.summary())
            if own_runtime:
                await rt.close()
        return self.stats

    async def _story(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for name, seconds in scenarios.STORY:
                self.set_scenario(name)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds * self.time_scale):
                        await stop.wait()
                if stop.is_set():
                    return

    async def _summaries(self, stop: asyncio.Event, every: float, out: Callable[[str], None]):
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await stop.wait()
            if not stop.is_set():
                out(self.summary())

    def summary(self) -> str:
        s, rt = self.stats, self.runtime
        elapsed = time.monotonic() - s.started
        total = s.total_runs or 1
        durations = sorted(s.durations)
        p50 = durations[len(durations) // 2] if durations else 0.0
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else 0.0
        active = rt.active_runs if rt is not None else 0
        version = rt.applied_version if rt is not None else 0
        connected = "up" if rt is not None and rt.connected else "DOWN"
        return (
            f"t={elapsed:5.0f}s scenario={self.scenario.name} agents={self.agents} "
            f"active={active} runs={s.total_runs} ({s.total_runs / max(elapsed, 1e-9):.1f}/s) "
            f"ok={100 * s.runs.get('success', 0) / total:.1f}% "
            f"killed={s.runs.get('killed', 0)} runaway={s.runs.get('runaway', 0)} "
            f"budget={s.runs.get('budget_exceeded', 0)} breaker_rejected={s.rejected} "
            f"refused={s.refused} "
            f"run_p50={p50:.2f}s run_p99={p99:.2f}s tokens/run={s.tokens / total:.0f} "
            f"cost/run=${s.cost / total:.4f} control=v{version} redis={connected}"
        )

    async def _agent(self, i: int, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed * 7919 + i)
        tenant = TENANTS[i % len(TENANTS)]
        agent_id = f"{self.id_prefix}-{i:04d}"
        kind = framework_agents.kind_for(i, self.frameworks_installed)
        think = self.think * self.time_scale
        await asyncio.sleep(rng.random() * think)  # stagger the start
        while not stop.is_set():
            pause = rng.expovariate(1 / think) if think > 0 else 0.0
            try:
                await self._one_run(rng, tenant, agent_id, kind)
            except AgentKilled:
                pause = max(pause, 5 * self.time_scale)  # a killed agent waits before retrying
            except NewRunsRefused:  # drained (or safe mode): try again later
                self.stats.refused += 1
                pause = max(pause, 1.0)
            except Exception:  # an agent's bug must not stop the fleet
                self.stats.count("failure")
            if self._stopping:
                return
            await asyncio.sleep(pause)

    async def _one_run(
        self, rng: random.Random, tenant: str, agent_id: str, kind: str | None = None
    ) -> None:
        rt, sc, stats = self.runtime, self.scenario, self.stats
        assert rt is not None
        hot = sc.hot_tenant is not None and (sc.hot_tenant == tenant or rng.random() < sc.hot_share)
        tenant = sc.hot_tenant if hot and sc.hot_tenant else tenant
        model = sc.hot_model if hot else MODELS[tenant]
        user = f"{tenant}-power-{rng.randrange(2000)}" if hot else f"user-{rng.randrange(100_000)}"
        runaway = rng.random() < sc.runaway_share
        steps = 1_000_000 if runaway else (sc.hot_steps if hot else rng.randint(2, 4))
        started = time.monotonic()
        tokens = 0
        cost = 0.0
        label = f"{kind}: " if kind else ""
        if kind is not None and self._frameworks is not None:
            await self._frameworks.load(kind)
        run = rt.run(
            task=f"{label}{rng.choice(TASKS)} #{rng.randrange(10_000)}",
            user=user,
            tenant=tenant,
            agent_id=agent_id,
            model=model,
        )
        outcome = "success"
        try:
            async with run:
                # The model-tier flag may move the tenant to a cheaper model (a tracked flag:
                # the run's metrics are labelled by the variant it got; sim/demo_flags.py).
                model = run.value(MODEL_TIER, model)
                for flag, bug_rate in self.canary_bugs.items():
                    if run.flag(flag) and rng.random() < bug_rate:
                        raise CanaryBug(f"{flag}: the new code path failed")
                if kind is not None and self._frameworks is not None:
                    prompt = 3000 if hot else min(3000, int(lognormal(rng, 520, 0.35)))
                    await self._frameworks.run(
                        kind, rng, steps=steps, prompt=prompt, max_output=900 if hot else 400
                    )
                for _ in range(0 if kind else steps):
                    if self._stopping:
                        break
                    run.step()
                    prompt = 3000 if hot else min(3000, int(lognormal(rng, 520, 0.35)))
                    done = await run.call("openai", self.llm.complete, prompt, 900 if hot else 400)
                    stats.llm_calls += 1
                    cost += await run.charge(
                        model=model,
                        input_tokens=done.input_tokens,
                        output_tokens=done.output_tokens,
                    )
                    tokens += done.input_tokens + done.output_tokens
                    if rng.random() < 0.4:
                        await run.call("search", self.search)
        except AgentKilled:
            outcome = "killed"
            raise
        except RunawayStopped:
            outcome = "runaway"
        except TokenBudgetExceeded:
            outcome = "budget_exceeded"
        except BreakerOpen:
            outcome = "failure"
            stats.rejected += 1
        except (DependencyError, CanaryBug):
            outcome = "failure"
        finally:
            if kind is not None:  # the integration booked the usage the fake model reported
                tokens, cost = run.record.tokens, run.record.cost
            if run.outcome is not None or outcome == "killed":
                stats.count(run.outcome or outcome)
                ended = time.monotonic()
                stats.durations.append(ended - started)
                stats.finished.append((ended, run.outcome or outcome, ended - started, cost))
                stats.charged.append((ended, tenant, cost))
                stats.tokens += tokens
                stats.cost += cost


async def run_simulation(
    settings: Settings,
    *,
    agents: int,
    scenario: str = "steady",
    metrics_port: int | None = None,
    stop_event: asyncio.Event | None = None,
    seconds: float | None = None,
    summary_every: float = 5.0,
    out: Callable[[str], None] | None = print,
    registry: Any | None = None,
    time_scale: float = 1.0,
    seed: int | None = None,
    frameworks: bool = True,
) -> FleetStats:
    """Run the simulator in-process (the demo and tests use this; the CLI wraps it).

    ``frameworks``: agents 3 and 4 of every five are written on the OpenAI Agents SDK and
    LangGraph when those are installed (they start once their framework is imported).
    """
    fleet = Fleet(
        settings,
        agents,
        scenario,
        time_scale=time_scale,
        registry=registry,
        seed=seed,
        frameworks=frameworks,
    )
    return await fleet.run(
        stop_event,
        seconds=seconds,
        metrics_port=metrics_port,
        summary_every=summary_every,
        out=out,
    )
