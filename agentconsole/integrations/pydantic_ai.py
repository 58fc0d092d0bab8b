"""PydanticAI: a capability that makes ``Agent.run`` / ``Agent.iter`` obey the console.

    from agentconsole.integrations.pydantic_ai import Console

    agent = Agent(model, tools=[...], capabilities=[Console(runtime)])
    async with runtime.run(task="triage", user="u-17", tenant="acme"):
        result = await agent.run("triage ticket 4521")

(or per run: ``agent.run(prompt, capabilities=[Console(runtime)])``). Around every model
request (``wrap_model_request``): kill, runaway and budget checks (``max_tokens`` from the
model settings against the per-request limit), one step, the breaker of the model's
provider (``model.system``: ``openai``, ``anthropic``... or ``dependency=``) - refused before
the model is called; afterwards the breaker is settled and the response's
``RequestUsage`` booked. Around every tool execution (``wrap_tool_execute``): a kill check
and a step; with ``guard_tools=True`` the breaker named after the tool sees its failures.

PydanticAI's own ``UsageLimits`` (a cap inside one run) still apply; ours are fleet-wide,
across runs, and changed live by an operator. A kill cancels the task running the agent.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from pydantic_ai.capabilities import AbstractCapability

from agentconsole.agent.model_call import ModelCall, ToolCall, active_run

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime


@dataclass
class Console(AbstractCapability[Any]):
    """Guards the model requests and tool calls of the agent's runs."""

    runtime: AgentRuntime
    _: KW_ONLY
    dependency: str | None = None
    guard_tools: bool = False
    id: str | None = "agentconsole"

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # holds a live runtime: not for specs

    async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any) -> Any:
        model = request_context.model
        settings = request_context.model_settings or {}
        estimate = settings.get("max_tokens") if isinstance(settings, dict) else None
        call = ModelCall(
            self.runtime,
            active_run(),
            self.dependency or str(getattr(model, "system", "") or "llm"),
            model=str(getattr(model, "model_name", "") or ""),
            estimate_tokens=estimate if isinstance(estimate, int) else None,
        )
        await call.begin()
        try:
            response = await handler(request_context)
        except BaseException as exc:
            call.failed(exc)
            raise
        usage = response.usage
        call.report(usage.input_tokens, usage.output_tokens, response.model_name or None)
        call.succeeded()
        return response

    async def wrap_tool_execute(
        self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any
    ) -> Any:
        tool = ToolCall(self.runtime, active_run(), str(tool_def.name), guarded=self.guard_tools)
        await tool.begin()
        try:
            result = await handler(args)
        except BaseException as exc:
            tool.failed(exc)
            raise
        tool.succeeded()
        return result
