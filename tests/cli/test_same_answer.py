"""One valued flag, 10,000 keys, four front-ends: the SDK (what run.variant / run.value
evaluate), the OpenFeature provider, the console's preview and `flags eval` give every key
the same variant and payload (or the same "off")."""

from __future__ import annotations

import random

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from prometheus_client import CollectorRegistry

from agentconsole.control.bucketing import in_rollout
from agentconsole.control.flags import answer, preview
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Override, Variant

N = 10_000


async def test_sdk_openfeature_console_preview_and_cli_agree_on_10000_keys(plane, settings, acli):
    from agentconsole.agent import AgentConsoleProvider, AgentRuntime

    rng = random.Random(17)
    keys = [f"user-{rng.getrandbits(40):x}" for _ in range(N)]
    forced = [k for k in keys if in_rollout(8000, "prompt-version", k)][:5]  # on for them
    await plane.flags.create(
        "prompt-version",
        enabled=True,
        rollout=80,
        value_type="string",
        variants=(
            Variant("v1", 50, "prompt-v1"),
            Variant("v2", 30, "prompt-v2", (Override("user", tuple(forced)),)),
            Variant("v3", 20, "prompt-v3"),
        ),
        constraints=(
            Constraint("environment", "IN", ("local", "prod")),
            Constraint("region", "NOT_IN", ("ap-south",)),
        ),
    )
    flag = await plane.flags.get("prompt-version")
    runtime = AgentRuntime(settings, registry=CollectorRegistry(), context={"region": "eu"})
    await runtime.start()
    try:
        await runtime.wait_for_version(await plane.version())
        # the SDK: each run's context is context_for(...), as run.variant/run.value use it
        sdk = {}
        for key in keys:
            ctx = runtime.flags.context_for(user=key, tenant="acme", agent="a-1", model="gpt-4o")
            result = runtime.flags.resolve("prompt-version", ctx)
            sdk[key] = (result.variant, result.payload) if result.on else (None, None)
        # OpenFeature: the targeting key is the user
        api.set_provider(AgentConsoleProvider(runtime), domain="same-answer")
        client = api.get_client("same-answer")
        of = {}
        for key in keys:
            d = client.get_string_details("prompt-version", "default", EvaluationContext(key))
            of[key] = (d.variant, d.value) if d.value != "default" else (None, None)
        api.clear_providers()
    finally:
        await runtime.close()
    # the console's preview (extra = what the console knows of the fleet's context)
    extra = {"environment": "local", "region": "eu"}
    console = {k: answer(flag, k, extra) for k in keys}
    counts = preview(flag, keys, extra)
    # flags eval, with the same context given on the command line
    r = await acli(
        "flags", "eval", "prompt-version", *keys,
        "--context", "environment=local", "--context", "region=eu", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    cli = {x["key"]: (x["variant"], x["payload"]) for x in r.json()["results"]}

    assert len(sdk) == len(of) == len(console) == len(cli) == N
    assert sdk == of == cli
    assert {k: v or "off" for k, (v, _) in sdk.items()} == console
    served = [v for v, _ in sdk.values()]
    assert counts == {name: served.count(name) for name in ("v1", "v2", "v3")} | {
        "off": served.count(None)
    }
    assert all(sdk[k][0] == "v2" for k in forced)
    assert 0.15 < counts["off"] / N < 0.25  # 80 % rollout
    assert 0.45 < counts["v1"] / (N - counts["off"]) < 0.55  # weights 50/30/20
