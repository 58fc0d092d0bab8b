"""A guarded client takes the model (or max_tokens) from a flag with one argument, on the
official OpenAI client over an httpx.MockTransport (the client's real code runs)."""

from __future__ import annotations

import httpx
import pytest

from agentconsole.control.variants import Variant
from agentconsole.integrations import openai_client
from tests.integrations.conftest import FakeProvider
from tests.integrations.test_openai_client import ask, completion

openai = pytest.importorskip("openai")


async def test_the_model_tier_flag_picks_the_model_per_tenant(plane, runtime):
    await plane.flags.create(
        "model-tier",
        enabled=True,
        stickiness="tenant",
        value_type="string",
        variants=(Variant("standard", 100), Variant("cheap", 0, "gpt-4o-mini")),
    )
    await plane.flags.create(
        "max-tokens", enabled=True, value_type="number", variants=(Variant("low", 1, 256),)
    )
    await plane.flags.set_override("model-tier", "tenant", "globex", "cheap")
    await runtime.wait_for_version(await plane.version())
    provider = FakeProvider(completion)
    raw = openai.AsyncOpenAI(
        api_key="test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(provider.handler(httpx))),
    )
    client = openai_client.guard(
        raw, runtime, flags={"model": "model-tier", "max_tokens": "max-tokens"}
    )
    async with runtime.run(task="t", user="u", tenant="globex") as run:
        await ask(client, model="gpt-4o")
    async with runtime.run(task="t", user="u", tenant="acme"):
        await ask(client, model="gpt-4o")
    async with runtime.run(task="t", user="u", tenant="acme"):
        await ask(client, model="gpt-4o", max_tokens="many")  # not a number: kept as written
    sent = [(r["model"], r.get("max_tokens")) for r in provider.requests]
    assert sent == [("gpt-4o-mini", 256), ("gpt-4o", 256), ("gpt-4o", "many")]
    record = await plane.agents.get(run.id)
    assert record.model == "gpt-4o-mini"  # the usage is booked under the model really used
