"""A fake LLM provider and fake tools: realistic latency, token counts and injected faults.

Latency is lognormal (a long right tail, like real completions); token counts are
lognormal too. Faults raise the SDK's DependencyError with the HTTP status a real provider
would send (503, or 429 with Retry-After), so retries and breakers see the real thing.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from agentconsole.agent.errors import DependencyError


@dataclass
class Faults:
    """What a dependency does right now (the scenario changes it while agents run)."""

    error_rate: float = 0.002  # share of calls failing with 503
    rate_limit_rate: float = 0.0  # share of calls failing with 429
    retry_after: float = 1.0
    latency_factor: float = 1.0
    timeout_rate: float = 0.0


@dataclass
class Completion:
    input_tokens: int
    output_tokens: int
    text: str


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


class FakeLLM:
    def __init__(
        self,
        rng: random.Random,
        *,
        median_latency: float = 0.5,
        sigma: float = 0.4,
        time_scale: float = 1.0,
    ) -> None:
        self.rng = rng
        self.median_latency = median_latency
        self.sigma = sigma
        self.time_scale = time_scale
        self.faults = Faults()

    async def complete(self, input_tokens: int, max_output: int = 400) -> Completion:
        f, rng = self.faults, self.rng
        roll = rng.random()
        if roll < f.rate_limit_rate:
            await asyncio.sleep(0.02 * self.time_scale)
            raise DependencyError(
                "rate_limited", "429 Too Many Requests", status=429, retry_after=f.retry_after
            )
        if roll < f.rate_limit_rate + f.error_rate:
            await asyncio.sleep(0.05 * self.time_scale)
            raise DependencyError("unavailable", "503 Service Unavailable", status=503)
        latency = lognormal(rng, self.median_latency, self.sigma) * f.latency_factor
        if rng.random() < f.timeout_rate:
            await asyncio.sleep(min(latency, 5.0) * self.time_scale)
            raise DependencyError("timeout", "upstream timed out")
        await asyncio.sleep(latency * self.time_scale)
        output = max(1, min(max_output, int(lognormal(rng, 180, 0.5))))
        return Completion(input_tokens, output, "…")


class FakeTool:
    """A tool (search, database, code runner) with its own latency and failure rate."""

    def __init__(self, rng: random.Random, median_latency: float, time_scale: float = 1.0):
        self.rng = rng
        self.median_latency = median_latency
        self.time_scale = time_scale
        self.faults = Faults(error_rate=0.001)

    async def __call__(self) -> str:
        f = self.faults
        await asyncio.sleep(
            lognormal(self.rng, self.median_latency, 0.6) * f.latency_factor * self.time_scale
        )
        if self.rng.random() < f.error_rate:
            raise DependencyError("server", "500 Internal Server Error", status=500)
        return "result"
