"""The operations table's rows for valued flags: one verb each, audited once, readable."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from agentconsole.control import InvalidValue, PermissionDenied
from agentconsole.control import operations as ops
from agentconsole.control.variants import Variant
from agentconsole.runbook import actions
from agentconsole.runbook.template import Values

TIERS = (Variant("standard", 100, "gpt-4o"), Variant("cheap", 0, "gpt-4o-mini"))


async def _tiers(plane) -> None:
    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )


async def test_override_line_with_a_spaced_tenant_is_one_audited_change(plane):
    await _tiers(plane)
    call = ops.parse_line('flag override model-tier tenant "globex corp" cheap')
    call.reason = "cost explosion"
    outcome = await call.op.run(plane, call)
    assert "override tenant 'globex corp' → cheap" in outcome.text
    assert "globex corp has no running agent" in outcome.text
    entries = await plane.audit.tail(5)
    assert [(e.action, e.reason) for e in entries][-1] == ("flag.override", "cost explosion")
    flag = await plane.flags.get("model-tier")
    assert flag.resolve({"tenant": "globex corp"}).variant == "cheap"
    clear = ops.parse_line('flag override-clear model-tier tenant "globex corp"')
    outcome = await clear.op.run(plane, clear)
    assert "removed (was cheap; back to the weights)" in outcome.text


async def test_runbook_step_moves_the_alerts_tenant(plane):
    await _tiers(plane)
    spec = actions.parse_line("flag override model-tier tenant {{ labels.tenant }} cheap")
    rendered = actions.render(spec, Values(labels={"tenant": "globex corp"}))
    assert rendered.text == 'flag override model-tier tenant "globex corp" cheap'
    result = await actions.execute(rendered, plane, reason="runbook: cost explosion")
    assert result.after["variants"][1]["overrides"] == [
        {"context": "tenant", "values": ["globex corp"]}
    ]
    assert result.before["variants"][1].get("overrides") is None


async def test_weights_payload_constrain_rows(plane):
    await _tiers(plane)
    call = ops.parse_line("flag weights model-tier standard=90 cheap=10")
    out = await call.op.run(plane, call)
    assert "variant cheap: weight 0 → 10" in out.text
    call = ops.parse_line("flag payload model-tier cheap gpt-4.1-mini")
    out = await call.op.run(plane, call)
    assert 'variant cheap: payload "gpt-4o-mini" → "gpt-4.1-mini"' in out.text
    call = ops.parse_line('flag constrain model-tier "region IN eu,us" "tier NUM_GTE 2"')
    out = await call.op.run(plane, call)
    assert "constraint added: region IN eu,us" in out.text
    assert [e.action for e in await plane.audit.tail(3)] == [
        "flag.variants",
        "flag.variants",
        "flag.constraints",
    ]


async def test_wrong_payload_and_bad_lines_are_refused_before_anything_is_written(plane):
    await plane.flags.create(
        "max-tokens", enabled=True, value_type="number", variants=(Variant("normal", 1, 4096),)
    )
    version = await plane.version()
    call = ops.parse_line("flag payload max-tokens normal lots")
    with pytest.raises(InvalidValue, match="must be a number"):
        await call.op.run(plane, call)
    with pytest.raises(InvalidValue, match="unknown operator"):
        ops.parse_line('flag constrain max-tokens "region LIKE eu"')
    with pytest.raises(InvalidValue, match="VARIANT=WEIGHT"):
        ops.parse_line("flag weights max-tokens normal")
    assert await plane.version() == version


async def test_viewer_cannot_move_a_tenant(plane, plane_as):
    await _tiers(plane)
    call = ops.parse_line("tenant move globex model-tier cheap")
    with pytest.raises(PermissionDenied, match=r"tenant\.move needs the responder role"):
        await call.op.run(plane_as("vic", "viewer"), call)


async def test_move_tenant_previews_its_agents_and_says_how_many_applied(plane, settings):
    from agentconsole.agent import AgentRuntime

    await _tiers(plane)
    rt = AgentRuntime(settings, registry=CollectorRegistry(), heartbeat_interval=0.1)
    await rt.start()
    try:
        async with rt.run(task="t", user="u", tenant="globex", agent_id="g-1") as run:
            assert run.value("model-tier", "?") == "gpt-4o"
            row = {"tenant": "globex", "agent": "g-1"}
            args = ops.offers(ops.get("tenant.move"), row)
            assert args == {"tenant": "globex"}
            call = ops.get("tenant.move").call(
                args | {"flag": "model-tier", "variant": "cheap"}, reason="spend", wait=10
            )
            preview = await call.op.preview(plane, call)
            assert preview.confirm and preview.targets == ["g-1"]
            assert preview.title == (
                "Move tenant globex to cheap (gpt-4o-mini) on model-tier (now: by weight)"
            )
            outcome = await call.op.run(plane, call)
            assert outcome.text.endswith("1 of 1 running agents of globex applied it")
            assert not outcome.warning
            assert run.value("model-tier", "?") == "gpt-4o-mini"
    finally:
        await rt.close()
    assert [e.action for e in await plane.audit.tail(1)] == ["tenant.move"]


async def test_variants_row_replaces_the_list_and_keeps_what_stays(plane):
    await _tiers(plane)
    await plane.flags.set_override("model-tier", "tenant", "globex", "cheap")
    call = ops.parse_line("flag variants model-tier standard=80 cheap=15 tiny=5:gpt-4.1-nano")
    out = await call.op.run(plane, call)
    assert 'variant tiny added: weight 5, payload "gpt-4.1-nano"' in out.text
    flag = await plane.flags.get("model-tier")
    assert [(v.name, v.weight, v.payload) for v in flag.variants] == [
        ("standard", 80, "gpt-4o"),
        ("cheap", 15, "gpt-4o-mini"),
        ("tiny", 5, "gpt-4.1-nano"),
    ]
    assert flag.resolve({"tenant": "globex"}).variant == "cheap"  # the override stayed
    call = ops.parse_line("""flag variants model-tier 'a=1:{"model":"x"}' type json""")
    out = await call.op.run(plane, call)
    assert (await plane.flags.get("model-tier")).variants[0].payload == {"model": "x"}
    call = ops.parse_line("flag variants model-tier a=1 type number")
    await call.op.run(plane, call)  # a payload of another type is not carried over
    assert (await plane.flags.get("model-tier")).variants[0].payload is None
    await (c := ops.parse_line('flag constrain model-tier "region IN eu"')).op.run(plane, c)
    out = await (c := ops.parse_line("flag unconstrain model-tier")).op.run(plane, c)
    assert "constraint removed: region IN eu" in out.text
