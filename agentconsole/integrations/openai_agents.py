"""The OpenAI Agents SDK (``agents``): run an ``Agent`` inside a console run.

    from agentconsole.integrations import openai_agents

    result = await openai_agents.run(agent, "triage ticket 4521", runtime=runtime,
                                     user="u-17", tenant="acme")

``run`` (and ``run_streamed``) open a console run (or join the one already current), pass
:class:`ConsoleHooks` to ``Runner.run`` and give the SDK's trace the run's trace id
(``trace_<run trace id>``). The hooks do the work, so they can also be passed by hand
(``Runner.run(agent, input, hooks=ConsoleHooks(runtime))`` inside ``runtime.run``):

- before each model call (``on_llm_start``): kill, runaway and budget checks, one step, the
  provider's breaker; raising there aborts the run before the model is called;
- after it (``on_llm_end``): the breaker settled, the response's usage booked;
- before each tool call: kill check and a step; the tool's own breaker with
  ``guard_tools=True`` (the SDK turns a tool's exception into text for the model, so the
  hooks see tools succeed; an operator's forced-open breaker still refuses them).

A kill cancels the task running ``Runner.run``; the SDK's cleanup runs and the console run
ends as killed. A model failure reaches the breaker through ``run`` (the SDK has no error
hook); with the hooks alone it does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents import RunConfig, RunHooks, Runner

from agentconsole.agent.model_call import ModelCall, ToolCall, active_run

if TYPE_CHECKING:
    from agentconsole.agent.run import Run
    from agentconsole.agent.runtime import AgentRuntime


class ConsoleHooks(RunHooks[Any]):
    """Run hooks that make an Agents SDK run obey the console; forwards to ``inner`` hooks."""

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        dependency: str = "openai",
        guard_tools: bool = False,
        inner: RunHooks[Any] | None = None,
    ) -> None:
        self.runtime = runtime
        self.dependency = dependency
        self.guard_tools = guard_tools
        self.inner = inner
        self._models: dict[tuple[int, int], ModelCall] = {}
        self._tools: dict[Any, ToolCall] = {}

    async def on_llm_start(self, context: Any, agent: Any, system_prompt: Any, input_items: Any):
        run = active_run()
        call = ModelCall(self.runtime, run, self.dependency, model=model_name(agent), shared=True)
        await call.begin()
        self._models[(id(run), id(agent))] = call
        if self.inner is not None:
            await self.inner.on_llm_start(context, agent, system_prompt, input_items)

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        call = self._models.pop((id(active_run()), id(agent)), None)
        if call is not None:
            usage = response.usage
            call.report(usage.input_tokens, usage.output_tokens)
            call.succeeded()
        if self.inner is not None:
            await self.inner.on_llm_end(context, agent, response)

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        name = str(getattr(tool, "name", "tool"))
        call = ToolCall(self.runtime, active_run(), name, guarded=self.guard_tools)
        await call.begin()
        self._tools[_tool_key(context, tool)] = call
        if self.inner is not None:
            await self.inner.on_tool_start(context, agent, tool)

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
        call = self._tools.pop(_tool_key(context, tool), None)
        if call is not None:
            call.succeeded()
        if self.inner is not None:
            await self.inner.on_tool_end(context, agent, tool, result)

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        if self.inner is not None:
            await self.inner.on_agent_start(context, agent)

    async def on_agent_end(self, context: Any, agent: Any, output: Any) -> None:
        if self.inner is not None:
            await self.inner.on_agent_end(context, agent, output)

    async def on_handoff(self, context: Any, from_agent: Any, to_agent: Any) -> None:
        if self.inner is not None:
            await self.inner.on_handoff(context, from_agent, to_agent)

    def settle_failure(self, run: Run | None, exc: BaseException) -> None:
        """The run raised: a model call still open failed with ``exc`` (feeds the breaker)."""
        for key in [k for k in self._models if k[0] == id(run)]:
            self._models.pop(key).failed(exc)
        for key in list(self._tools):
            self._tools.pop(key).failed(exc)


def model_name(agent: Any) -> str:
    model = getattr(agent, "model", None)
    if isinstance(model, str):
        return model
    return str(getattr(model, "model", "") or "")


def _tool_key(context: Any, tool: Any) -> Any:
    return getattr(context, "tool_call_id", None) or id(tool)


def _config(run_config: RunConfig | None, run: Run) -> RunConfig:
    config = run_config or RunConfig()
    if config.trace_id is None:
        config = dataclasses.replace(config, trace_id=f"trace_{run.trace_id}")
    return config


def _hooks(runtime: AgentRuntime, hooks: Any, dependency: str, guard_tools: bool) -> ConsoleHooks:
    if isinstance(hooks, ConsoleHooks):
        return hooks
    return ConsoleHooks(runtime, dependency=dependency, guard_tools=guard_tools, inner=hooks)


def _flagged(
    agent: Any, runtime: AgentRuntime, model_flag: str | None, user: str, tenant: str, agent_id: str
) -> Any:
    """The agent with the model ``model_flag`` serves this run (its payload, a model name),
    e.g. ``model_flag="model-tier"``; unchanged when the flag serves none."""
    if not model_flag:
        return agent
    current = active_run()
    if current is not None:
        name = current.value(model_flag, None)
    else:
        ctx = runtime.flags.context_for(
            user=user, tenant=tenant, agent=agent_id, model=model_name(agent)
        )
        name = runtime.flags.value(model_flag, None, ctx)
    return agent.clone(model=name) if isinstance(name, str) and name else agent


@contextlib.asynccontextmanager
async def _console_run(runtime: AgentRuntime, agent: Any, **run_kw: Any) -> AsyncIterator[Run]:
    current = active_run()
    if current is not None:  # already inside `async with runtime.run(...)`
        yield current
        return
    run_kw["task"] = run_kw.get("task") or f"agent {getattr(agent, 'name', '')}".strip()
    async with runtime.run(model=model_name(agent), **run_kw) as run:
        yield run


async def run(
    agent: Any,
    input: Any,
    *,
    runtime: AgentRuntime,
    task: str | None = None,
    user: str = "",
    tenant: str = "",
    agent_id: str | None = None,
    dependency: str = "openai",
    guard_tools: bool = False,
    hooks: RunHooks[Any] | None = None,
    run_config: RunConfig | None = None,
    model_flag: str | None = None,
    **runner_kwargs: Any,
) -> Any:
    """``Runner.run(agent, input, ...)`` inside a console run; returns its ``RunResult``.
    ``model_flag="model-tier"``: the agent runs on the model that flag serves the run."""
    console_hooks = _hooks(runtime, hooks, dependency, guard_tools)
    agent = _flagged(agent, runtime, model_flag, user, tenant, agent_id or "")
    async with _console_run(
        runtime, agent, task=task, user=user, tenant=tenant, agent_id=agent_id
    ) as crun:
        try:
            return await Runner.run(
                agent,
                input,
                hooks=console_hooks,
                run_config=_config(run_config, crun),
                **runner_kwargs,
            )
        except BaseException as exc:
            console_hooks.settle_failure(crun, exc)
            raise


@contextlib.asynccontextmanager
async def run_streamed(
    agent: Any,
    input: Any,
    *,
    runtime: AgentRuntime,
    task: str | None = None,
    user: str = "",
    tenant: str = "",
    agent_id: str | None = None,
    dependency: str = "openai",
    guard_tools: bool = False,
    hooks: RunHooks[Any] | None = None,
    run_config: RunConfig | None = None,
    model_flag: str | None = None,
    **runner_kwargs: Any,
) -> AsyncIterator[Any]:
    """``async with run_streamed(agent, input, runtime=...) as result:`` then
    ``async for event in result.stream_events()``; a kill (or leaving the block early)
    cancels the SDK's background run."""
    console_hooks = _hooks(runtime, hooks, dependency, guard_tools)
    agent = _flagged(agent, runtime, model_flag, user, tenant, agent_id or "")
    async with _console_run(
        runtime, agent, task=task, user=user, tenant=tenant, agent_id=agent_id
    ) as crun:
        result = Runner.run_streamed(
            agent,
            input,
            hooks=console_hooks,
            run_config=_config(run_config, crun),
            **runner_kwargs,
        )
        try:
            yield result
        except BaseException as exc:
            console_hooks.settle_failure(crun, exc)
            raise
        finally:
            if not result.is_complete:
                result.cancel()
