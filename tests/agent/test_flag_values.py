"""run.variant / run.value and the OpenFeature provider's typed lookups, from the snapshot."""

from __future__ import annotations

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from agentconsole.agent import AgentConsoleProvider
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Variant

TIERS = (Variant("standard", 100, "gpt-4o"), Variant("cheap", 0, "gpt-4o-mini"))


async def test_run_variant_and_value_follow_an_override(plane, runtime):
    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="t", user="u1", tenant="globex corp") as run:
        assert run.variant("model-tier") == "standard"
        assert run.value("model-tier", "fallback") == "gpt-4o"
        await plane.flags.set_override("model-tier", "tenant", "globex corp", "cheap")
        await runtime.wait_for_version(await plane.version())
        assert run.variant("model-tier") == "cheap"
        assert run.value("model-tier", "fallback") == "gpt-4o-mini"
        assert run.value("model-tier", 1) == 1  # the caller expects a number: its default
        assert run.value("model-tier", False) is True  # a bool default asks on/off
        assert run.value("missing", "d") == "d" and run.variant("missing") is None


async def test_constraints_see_the_run_and_the_process_context(plane, make_runtime):
    rt = await make_runtime(context={"region": "eu"})
    await plane.flags.create(
        "max-tokens",
        enabled=True,
        value_type="number",
        variants=(Variant("low", 1, 512),),
        constraints=(
            Constraint("region", "IN", ("eu",)),
            Constraint("model", "STR_STARTS_WITH", ("gpt-4o",)),
        ),
    )
    await rt.wait_for_version(await plane.version())
    async with rt.run(task="t", user="u", model="gpt-4o-mini") as run:
        assert run.value("max-tokens", 4096) == 512
        assert run.flag("max-tokens")
        run.context["region"] = "us"  # agent code can add or change fields for its run
        assert run.value("max-tokens", 4096) == 4096 and not run.flag("max-tokens")
    async with rt.run(task="t", user="u", model="claude") as run:
        assert run.value("max-tokens", 4096) == 4096


async def test_openfeature_typed_values_and_reasons(plane, runtime):
    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )
    await plane.flags.set_override("model-tier", "tenant", "globex", "cheap")
    await plane.flags.create(
        "temperature",
        enabled=True,
        value_type="number",
        variants=(Variant("a", 1, 0.2), Variant("b", 1, 1)),
    )
    await plane.flags.create(
        "tools",
        enabled=True,
        value_type="json",
        variants=(Variant("all", 1, {"search": True, "code": False}),),
        constraints=(Constraint("tenant", "NOT_IN", ("initech",)),),
    )
    await plane.flags.create(
        "off-one", enabled=False, value_type="string", variants=(Variant("x", 1, "x"),)
    )
    await runtime.wait_for_version(await plane.version())
    api.set_provider(AgentConsoleProvider(runtime), domain="valued")
    client = api.get_client("valued")
    try:
        cheap = client.get_string_details(
            "model-tier", "d", EvaluationContext("u", {"tenant": "globex"})
        )
        assert (cheap.value, cheap.variant, cheap.reason) == (
            "gpt-4o-mini",
            "cheap",
            Reason.TARGETING_MATCH,
        )
        std = client.get_string_details(
            "model-tier", "d", EvaluationContext("u", {"tenant": "acme"})
        )
        assert (std.value, std.reason) == ("gpt-4o", Reason.STATIC)
        keyed = client.get_string_value("model-tier", "d", EvaluationContext("globex"))
        assert keyed == "gpt-4o-mini"  # the targeting key stands in for the tenant
        temps = {
            client.get_float_details("temperature", 0.7, EvaluationContext(f"u{i}")).value
            for i in range(50)
        }
        assert temps == {0.2, 1.0}
        split = client.get_float_details("temperature", 0.7, EvaluationContext("u1"))
        assert split.reason == Reason.SPLIT
        whole = client.get_integer_details("temperature", 7, EvaluationContext("u1"))
        assert whole.value in (7, 1)
        tools = client.get_object_details("tools", {}, EvaluationContext("u", {"tenant": "acme"}))
        assert tools.value == {"search": True, "code": False}
        assert tools.reason == Reason.TARGETING_MATCH
        left_out = client.get_object_details(
            "tools", {}, EvaluationContext("u", {"tenant": "initech"})
        )
        assert (left_out.value, left_out.reason) == ({}, Reason.DEFAULT)
        off = client.get_string_details("off-one", "d", EvaluationContext("u"))
        assert (off.value, off.reason) == ("d", Reason.DISABLED)
        wrong = client.get_integer_details("model-tier", 3, EvaluationContext("u"))
        assert wrong.value == 3 and wrong.error_code == ErrorCode.TYPE_MISMATCH
        assert client.get_boolean_value("model-tier", False, EvaluationContext("u"))
    finally:
        api.clear_providers()


async def test_a_tracked_valued_flag_labels_runs_by_the_variant_served(plane, runtime):
    from tests.agent.conftest import sample

    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )
    await plane.flags.set_override("model-tier", "tenant", "globex", "cheap")
    await plane.flags.update("model-tier", tracked=True)
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="t", user="u", tenant="globex") as run:
        assert run.value("model-tier", "gpt-4o") == "gpt-4o-mini"
    labels = {"flag": "model-tier", "variant": "cheap", "outcome": "success"}
    assert sample(runtime, "agent_flag_runs_total", **labels) == 1
