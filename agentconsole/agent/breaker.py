"""Circuit breakers as an agent sees them: a local sliding window, a fleet-wide state.

Each process counts the last ``window`` calls per dependency. When failures or slow calls
pass the threshold it opens its own breaker at once and, in the background, runs the
``breaker_transition`` Lua script so the whole fleet opens with it (the script publishes a
change event). After ``wait_open`` the breaker is half-open: the script hands out at most
``half_open_trials`` trial permits fleet-wide, and ``close_after`` successes close it.
The operator's mode (forced_open / forced_closed, with expiry) always wins.

Closed and open decisions are pure in-memory; only a half-open trial asks Redis.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agentconsole.agent.errors import BreakerOpen
from agentconsole.control.breakers import BreakerMode, BreakerObserved


@dataclass
class BreakerConfig:
    window: int = 20
    min_calls: int = 10
    failure_threshold: float = 0.5
    slow_threshold: float = 0.8
    slow_call_seconds: float = 10.0
    wait_open: float = 30.0
    half_open_trials: int = 3
    close_after: int = 3


ALLOW, TRIAL = "allow", "trial"


@dataclass
class LocalBreaker:
    """One dependency in one process: window counts and this process's view of the state."""

    dependency: str
    config: BreakerConfig
    outcomes: deque[tuple[bool, bool]] = field(default_factory=deque)
    failures: int = 0
    slow: int = 0
    state: str = "closed"
    opened_at: float | None = None
    pending: bool = False  # a transition was sent and not yet confirmed by Redis
    rejected: int = 0  # since the last report
    dirty: bool = False  # stats changed since the last report
    local_trials: int = 0  # trials in flight when Redis could not be asked
    trial_ok: bool = True  # the last trial call was neither failed nor slow

    def record(self, failed: bool, slow: bool) -> bool:
        """Count one call; True when the window says the breaker must open."""
        if len(self.outcomes) >= self.config.window:
            old_failed, old_slow = self.outcomes.popleft()
            self.failures -= old_failed
            self.slow -= old_slow
        self.outcomes.append((failed, slow))
        self.failures += failed
        self.slow += slow
        self.dirty = True
        n = len(self.outcomes)
        if n < self.config.min_calls:
            return False
        return (
            self.failures / n >= self.config.failure_threshold
            or self.slow / n >= self.config.slow_threshold
        )

    @property
    def failure_rate(self) -> float:
        return self.failures / len(self.outcomes) if self.outcomes else 0.0

    @property
    def slow_rate(self) -> float:
        return self.slow / len(self.outcomes) if self.outcomes else 0.0

    def reset_window(self) -> None:
        self.outcomes.clear()
        self.failures = self.slow = 0

    def adopt(self, observed: BreakerObserved) -> None:
        """Take the fleet's state from a snapshot unless our own transition is in flight."""
        if self.pending:
            return
        if observed.state != self.state and observed.state == "closed":
            self.reset_window()
        self.state = observed.state
        self.opened_at = observed.opened_at


class BreakerBoard:
    """All dependencies of one runtime. ``check`` is the hot path: no I/O, no allocation."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        per_dependency: dict[str, BreakerConfig] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or BreakerConfig()
        self.per_dependency = per_dependency or {}
        self.clock = clock
        self.breakers: dict[str, LocalBreaker] = {}
        self.modes: dict[str, BreakerMode] = {}

    def get(self, dependency: str) -> LocalBreaker:
        b = self.breakers.get(dependency)
        if b is None:
            cfg = self.per_dependency.get(dependency, self.config)
            b = self.breakers[dependency] = LocalBreaker(dependency, cfg)
        return b

    def mode(self, dependency: str) -> str:
        m = self.modes.get(dependency)
        return m.effective(self.clock()) if m is not None else "auto"

    def check(self, dependency: str) -> str:
        """ALLOW, TRIAL (ask the fleet for a permit first) or raise BreakerOpen."""
        b = self.get(dependency)
        m = self.modes.get(dependency)
        if m is not None and m.mode != "auto":
            mode = m.effective(self.clock())
            if mode == "forced_open":
                b.rejected += 1
                raise BreakerOpen(dependency, f"forced open by {m.changed_by or 'an operator'}")
            if mode == "forced_closed":
                return ALLOW
        state = b.state
        if state == "closed":
            return ALLOW
        if state == "open" and self.clock() < (b.opened_at or 0.0) + b.config.wait_open:
            b.rejected += 1
            raise BreakerOpen(dependency, "too many failures")
        return TRIAL

    def effective(self, dependency: str) -> str:
        mode = self.mode(dependency)
        if mode == "forced_open":
            return "open"
        if mode == "forced_closed":
            return "closed"
        return self.get(dependency).state

    def apply_snapshot(
        self, modes: dict[str, BreakerMode], observed: dict[str, BreakerObserved]
    ) -> None:
        self.modes = modes
        for dep, obs in observed.items():
            self.get(dep).adopt(obs)
