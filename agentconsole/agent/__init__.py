"""The agent SDK: what agent processes embed to obey the console's controls.

    runtime = await AgentRuntime(settings).start()
    async with runtime.run(task="triage", user="u1", tenant="acme") as run:
        reply = await run.call("openai", llm, prompt)
        await run.charge(model="gpt-4o", input_tokens=900, output_tokens=200)

See docs/agent-sdk.md. Heavy parts are imported on first use so ``import`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentconsole.agent.errors import (
    AgentKilled,
    AgentStopped,
    BreakerOpen,
    DependencyError,
    Drained,
    NewRunsRefused,
    RunawayStopped,
    TokenBudgetExceeded,
)

if TYPE_CHECKING:
    from agentconsole.agent.breaker import BreakerConfig
    from agentconsole.agent.logs import configure_json_logging
    from agentconsole.agent.openfeature import AgentConsoleProvider
    from agentconsole.agent.retry import RetryPolicy
    from agentconsole.agent.run import Run
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.agent.sync import SyncRun

_LAZY = {
    "AgentRuntime": "agentconsole.agent.runtime",
    "Run": "agentconsole.agent.run",
    "SyncRun": "agentconsole.agent.sync",
    "BreakerConfig": "agentconsole.agent.breaker",
    "RetryPolicy": "agentconsole.agent.retry",
    "AgentConsoleProvider": "agentconsole.agent.openfeature",
    "configure_json_logging": "agentconsole.agent.logs",
}

__all__ = [
    "AgentConsoleProvider",
    "AgentKilled",
    "AgentRuntime",
    "AgentStopped",
    "BreakerConfig",
    "BreakerOpen",
    "DependencyError",
    "Drained",
    "NewRunsRefused",
    "RetryPolicy",
    "Run",
    "RunawayStopped",
    "SyncRun",
    "TokenBudgetExceeded",
    "configure_json_logging",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentconsole.agent' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
