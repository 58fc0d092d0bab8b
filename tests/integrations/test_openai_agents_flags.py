"""The OpenAI Agents SDK's real Runner takes the agent's model from a flag, one argument."""

from __future__ import annotations

import pytest

from agentconsole.control.variants import Variant

agents = pytest.importorskip("agents")
from agents import Agent, ModelProvider, RunConfig  # noqa: E402

from agentconsole.integrations import openai_agents  # noqa: E402
from tests.integrations.test_openai_agents import ScriptedModel, answer  # noqa: E402


class Provider(ModelProvider):
    """Model names to scripted models (the SDK resolves a model name through this)."""

    def __init__(self, **models: ScriptedModel) -> None:
        self.models = models

    def get_model(self, model_name: str | None) -> ScriptedModel:
        return self.models[model_name or ""]


async def test_model_tier_moves_one_tenants_agents_to_the_cheap_model(plane, runtime):
    await plane.flags.create(
        "model-tier",
        enabled=True,
        stickiness="tenant",
        value_type="string",
        variants=(Variant("standard", 100), Variant("cheap", 0, "cheap-model")),
    )
    await plane.flags.set_override("model-tier", "tenant", "globex", "cheap")
    await runtime.wait_for_version(await plane.version())
    big = ScriptedModel(lambda n: answer(), name="big-model")
    cheap = ScriptedModel(lambda n: answer(), name="cheap-model")
    config = RunConfig(model_provider=Provider(**{"big-model": big, "cheap-model": cheap}))
    agent = Agent(name="helper", instructions="help", model="big-model")
    for tenant in ("acme", "globex"):
        await openai_agents.run(
            agent, "hi", runtime=runtime, user="u", tenant=tenant,
            run_config=config, model_flag="model-tier",
        )  # fmt: skip
    assert (big.calls, cheap.calls) == (1, 1)
    records = {a.tenant: a for a in await plane.agents.list()}
    assert records["globex"].model == "cheap-model" and records["acme"].model == "big-model"
