"""Simulated agents written on real frameworks: the OpenAI Agents SDK and LangGraph.

They run inside the same console run as the native agents and obey through the
integrations (``agentconsole/integrations/``), so the demo shows them in the Agents view,
kills them, and trips their breaker like the others. Their models are fakes that take their
latency, token counts and faults from the fleet's FakeLLM; their tool is the fleet's search
tool. Used only when the framework is installed (the ``[openai-agents]`` and
``[langchain]`` extras, which ``make demo`` installs); otherwise those agents run natively.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.sim.llm import FakeLLM, FakeTool

OPENAI_AGENTS, LANGGRAPH = "openai-agents", "langgraph"
# which agents of the fleet are written on a framework: agent i uses KINDS[i % 5], if any
KINDS = {3: OPENAI_AGENTS, 4: LANGGRAPH}
_NEEDS = {OPENAI_AGENTS: ("agents",), LANGGRAPH: ("langgraph", "langchain_core")}
# imported once, in a thread, before the first run of that kind (``import agents`` takes
# seconds of CPU: it must not stall the fleet's loop)
_PRELOAD = {
    OPENAI_AGENTS: ("agents", "agentconsole.integrations.openai_agents"),
    LANGGRAPH: (
        "langgraph.graph",
        "langgraph.prebuilt",
        "langchain_core.language_models",
        "agentconsole.integrations.langchain",
    ),
}
_ids = itertools.count(1)


def available() -> set[str]:
    """The frameworks importable here (checked without importing them)."""
    return {
        kind
        for kind, modules in _NEEDS.items()
        if all(importlib.util.find_spec(m) is not None for m in modules)
    }


def kind_for(index: int, installed: set[str]) -> str | None:
    kind = KINDS.get(index % 5)
    return kind if kind in installed else None


class FrameworkAgents:
    """Builds and runs one framework agent's run (called inside ``async with run``)."""

    def __init__(self, runtime: AgentRuntime, llm: FakeLLM, search: FakeTool) -> None:
        self.runtime, self.llm, self.search = runtime, llm, search
        self._handler: Any = None
        self._loaded: dict[str, asyncio.Future[None]] = {}

    async def load(self, kind: str) -> None:
        """Import the framework in a worker thread (once); every agent of that kind waits."""
        loaded = self._loaded.get(kind)
        if loaded is None:
            loop = asyncio.get_running_loop()
            loaded = self._loaded[kind] = loop.run_in_executor(None, _import, _PRELOAD[kind])
        await asyncio.shield(loaded)

    async def run(
        self, kind: str, rng: random.Random, *, steps: int, prompt: int, max_output: int
    ) -> None:
        """``steps`` model turns; between them the tool, which searches 40% of the time
        (as often as a native simulated agent does) and answers from cache otherwise."""
        search = self.search

        async def sometimes_search() -> str:
            return await search() if rng.random() < 0.4 else "cached"

        if kind == OPENAI_AGENTS:
            await self._openai_agents(sometimes_search, steps, prompt, max_output)
        else:
            await self._langgraph(sometimes_search, steps, prompt, max_output)

    # --- OpenAI Agents SDK ---------------------------------------------------------------

    async def _openai_agents(
        self, search: Callable[[], Awaitable[str]], steps: int, prompt: int, max_output: int
    ) -> None:
        from agents import Agent, RunConfig, function_tool

        from agentconsole.integrations import openai_agents

        @function_tool
        async def lookup() -> str:
            """Search the knowledge base."""
            return await search()

        model = _agents_model(self.llm, steps, prompt, max_output)
        agent = Agent(name="sim-openai-agents", model=model, tools=[lookup])
        await openai_agents.run(
            agent,
            "work the ticket",
            runtime=self.runtime,
            max_turns=steps + 2,
            run_config=RunConfig(tracing_disabled=True),
        )

    # --- LangGraph ---------------------------------------------------------------------------

    async def _langgraph(
        self, search: Callable[[], Awaitable[str]], steps: int, prompt: int, max_output: int
    ) -> None:
        from langchain_core.messages import HumanMessage

        from agentconsole.integrations.langchain import ConsoleCallbackHandler

        if self._handler is None:
            self._handler = ConsoleCallbackHandler(self.runtime, dependency="openai")
        graph = _graph(self.llm, search, steps, prompt, max_output)
        await graph.ainvoke(
            {"messages": [HumanMessage("work the ticket")]},
            config={"callbacks": [self._handler], "recursion_limit": 2 * steps + 10},
        )


def _agents_model(llm: FakeLLM, steps: int, prompt: int, max_output: int) -> Any:
    from agents import Model, ModelResponse, Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    class SimModel(Model):
        """Calls the lookup tool ``steps - 1`` times, then answers."""

        model = "gpt-4o-mini"

        def __init__(self) -> None:
            self.turn = 0

        async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
            done = await llm.complete(prompt, max_output)
            self.turn += 1
            n = next(_ids)
            if self.turn < steps:
                output: list[Any] = [
                    ResponseFunctionToolCall(
                        arguments="{}", call_id=f"c{n}", name="lookup", type="function_call"
                    )
                ]
            else:
                text = ResponseOutputText(annotations=[], text="done", type="output_text")
                output = [
                    ResponseOutputMessage(
                        id=f"m{n}",
                        content=[text],
                        role="assistant",
                        status="completed",
                        type="message",
                    )
                ]
            usage = Usage(
                requests=1,
                input_tokens=done.input_tokens,
                output_tokens=done.output_tokens,
                total_tokens=done.input_tokens + done.output_tokens,
            )
            return ModelResponse(output=output, usage=usage, response_id=f"r{n}")

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("the simulated agents do not stream")

    return SimModel()


def _graph(
    llm: FakeLLM, search: Callable[[], Awaitable[str]], steps: int, prompt: int, max_output: int
) -> Any:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    class SimChatModel(BaseChatModel):
        """A LangChain chat model on the fleet's FakeLLM; asks for the tool until done."""

        turn: int = 0

        @property
        def _llm_type(self) -> str:
            return "sim"

        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise NotImplementedError("async only")

        async def _agenerate(self, messages: Any, *args: Any, **kwargs: Any) -> ChatResult:
            done = await llm.complete(prompt, max_output)
            self.turn += 1
            usage = {
                "input_tokens": done.input_tokens,
                "output_tokens": done.output_tokens,
                "total_tokens": done.input_tokens + done.output_tokens,
            }
            calls = []
            if self.turn < steps:
                calls = [
                    {"name": "lookup", "args": {}, "id": f"c{next(_ids)}", "type": "tool_call"}
                ]
            message = AIMessage(
                content="" if calls else "done", tool_calls=calls, usage_metadata=usage
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

    @tool
    async def lookup() -> str:
        """Search the knowledge base."""
        return await search()

    model = SimChatModel()

    async def think(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", think)
    graph.add_node("tools", ToolNode([lookup]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def _import(modules: tuple[str, ...]) -> None:
    import logging

    for name in modules:
        importlib.import_module(name)
    # LangChain logs a warning for every exception a handler raises, even one it re-raises
    # on purpose (raise_error): a simulated runaway or kill is not worth a line on stderr
    logging.getLogger("langchain_core.callbacks.manager").setLevel(logging.ERROR)
