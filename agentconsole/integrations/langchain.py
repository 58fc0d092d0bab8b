"""LangChain chat models and LangGraph graphs: a callback handler.

    from agentconsole.integrations.langchain import ConsoleCallbackHandler

    handler = ConsoleCallbackHandler(runtime)
    async with runtime.run(task="triage", user="u-17", tenant="acme"):
        await graph.ainvoke(state, config={"callbacks": [handler]})

Passed in ``config={"callbacks": [...]}`` to ``ainvoke``/``astream`` of a chat model or a
compiled graph, the handler (``raise_error=True``, run inline) makes every model call:
refused before it is sent when the run is killed or over budget or the provider's breaker
is open (its exception aborts the invocation); counted as a step; settled on the breaker
(``on_llm_end``/``on_llm_error``); booked from ``AIMessage.usage_metadata`` (or the
provider's ``token_usage``). Each tool call is a step after a kill check, and with
``guard_tools=True`` goes through the breaker named after the tool. The dependency is
``dependency=`` if given, else the model's ``ls_provider`` (``openai``, ``anthropic``...).

A kill cancels the task running ``ainvoke``/``astream``; LangChain's own cleanup runs.
Only the async entry points are covered (the handler is async).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

from agentconsole.agent.model_call import ModelCall, ToolCall, active_run

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime


class ConsoleCallbackHandler(AsyncCallbackHandler):
    """Guards the model and tool calls of a LangChain / LangGraph invocation."""

    raise_error = True  # our refusals must stop the invocation, not be logged
    run_inline = True  # awaited in the caller's task: its console run is visible

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        dependency: str | None = None,
        guard_tools: bool = False,
    ) -> None:
        self.runtime = runtime
        self.dependency = dependency
        self.guard_tools = guard_tools
        self._models: dict[UUID, ModelCall] = {}
        self._tools: dict[UUID, ToolCall] = {}

    # --- model calls -------------------------------------------------------------------------

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        await self._begin(run_id, metadata or {}, kwargs.get("invocation_params") or {})

    async def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        await self._begin(run_id, metadata or {}, kwargs.get("invocation_params") or {})

    async def _begin(self, run_id: UUID, metadata: dict[str, Any], params: dict[str, Any]):
        model = str(
            metadata.get("ls_model_name") or params.get("model") or params.get("model_name") or ""
        )
        dependency = self.dependency or str(metadata.get("ls_provider") or "llm")
        estimate = metadata.get("ls_max_tokens")
        call = ModelCall(
            self.runtime,
            active_run(),
            dependency,
            model=model,
            estimate_tokens=estimate if isinstance(estimate, int) else None,
        )
        await call.begin()
        self._models[run_id] = call

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._models.pop(run_id, None)
        if call is None:
            return
        usage = usage_of(response)
        if usage is not None:
            call.report(*usage)
        call.succeeded()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._models.pop(run_id, None)
        if call is not None:
            call.failed(error)

    # --- tool calls --------------------------------------------------------------------------

    async def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        call = ToolCall(self.runtime, active_run(), name, guarded=self.guard_tools)
        await call.begin()
        self._tools[run_id] = call

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._tools.pop(run_id, None)
        if call is not None:
            call.succeeded()

    async def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._tools.pop(run_id, None)
        if call is not None:
            call.failed(error)


def usage_of(result: Any) -> tuple[int, int, str] | None:
    """(input, output, model) from an ``LLMResult``: the messages' ``usage_metadata``
    (summed over generations), else the provider's ``llm_output["token_usage"]``."""
    tokens_in = tokens_out = 0
    found = False
    for generations in getattr(result, "generations", None) or []:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if usage:
                found = True
                tokens_in += int(usage.get("input_tokens") or 0)
                tokens_out += int(usage.get("output_tokens") or 0)
    output = getattr(result, "llm_output", None) or {}
    model = str(output.get("model_name") or output.get("model") or "")
    if found:
        return tokens_in, tokens_out, model
    token_usage = output.get("token_usage") or output.get("usage")
    if isinstance(token_usage, dict):
        return (
            int(token_usage.get("prompt_tokens") or token_usage.get("input_tokens") or 0),
            int(token_usage.get("completion_tokens") or token_usage.get("output_tokens") or 0),
            model,
        )
    return None
