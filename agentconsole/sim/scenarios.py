"""Named traffic scenarios and the scripted ``story`` that cycles through them.

A scenario is a set of knobs the fleet reads on every step, so switching scenario changes
the fleet's behaviour at once without restarting agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentconsole.sim.llm import Faults


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    llm: Faults = field(default_factory=Faults)
    search: Faults = field(default_factory=lambda: Faults(error_rate=0.001))
    runaway_share: float = 0.0  # share of runs that never stop on their own
    hot_tenant: str | None = None  # the tenant whose usage explodes
    # Share of every agent's runs the hot tenant takes over (its traffic surges). Without
    # it the hot tenant keeps only its own agents, whose long runs are too few to move the
    # fleet's cost per run past its target.
    hot_share: float = 0.0
    hot_model: str = "claude-opus"
    hot_steps: int = 15


STEADY = Scenario("steady", "normal traffic: ~0.2% provider errors, sub-second completions")

SCENARIOS: dict[str, Scenario] = {
    "steady": STEADY,
    "provider-outage": Scenario(
        "provider-outage",
        "the LLM provider answers 503 to most calls and 429 with Retry-After to many more",
        llm=Faults(error_rate=0.55, rate_limit_rate=0.3, retry_after=2.0),
    ),
    "latency-spike": Scenario(
        "latency-spike",
        "completions take six times longer (p99 well above 5 s), no errors",
        llm=Faults(error_rate=0.002, latency_factor=6.0),
    ),
    "runaway": Scenario(
        "runaway",
        "some agents loop without end, consuming tokens until the runaway guard stops them",
        runaway_share=0.05,
    ),
    "cost-explosion": Scenario(
        "cost-explosion",
        "one tenant surges: far more runs, the priciest model, huge prompts, long loops",
        hot_tenant="globex",
        hot_share=0.25,
    ),
}

# (scenario, seconds): the demo's scripted incident story, repeated. The outage lasts three
# minutes: an open breaker stops the calls, so the fleet's error ratio (2-minute window)
# only passes 1% once the steady minutes before have left the window.
STORY: list[tuple[str, float]] = [
    ("steady", 60),
    ("provider-outage", 180),
    ("steady", 45),
    ("latency-spike", 60),
    ("steady", 45),
    ("runaway", 60),
    ("steady", 45),
    ("cost-explosion", 75),
]

NAMES = (*SCENARIOS, "story")


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}: choose one of {', '.join(NAMES)}") from None
