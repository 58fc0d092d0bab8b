"""Valued flags: variants, payload types, overrides and constraints, in the model and in Redis."""

from __future__ import annotations

import random

import pytest

from agentconsole.control import InvalidValue, NotFound, PermissionDenied
from agentconsole.control.flag_edits import forced_variant, parse_weights, set_override
from agentconsole.control.flags import Flag
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Override, Variant, parse_payload

TIERS = (
    Variant("standard", 100, "gpt-4o"),
    Variant("cheap", 0, "gpt-4o-mini"),
)


def tiers(**kw) -> Flag:
    kw.setdefault("stickiness", "tenant")
    kw.setdefault("variants", TIERS)
    return Flag("model-tier", enabled=True, value_type="string", **kw)


def test_weights_split_keys_in_proportion_and_stay_sticky():
    flag = Flag(
        "prompt",
        enabled=True,
        value_type="string",
        variants=(Variant("a", 50, "v1"), Variant("b", 30, "v2"), Variant("c", 20, "v3")),
    )
    rng = random.Random(5)
    keys = [f"u-{rng.getrandbits(40):x}" for _ in range(20_000)]
    served = [flag.resolve({"user": k}).variant for k in keys]
    shares = {name: served.count(name) / len(keys) for name in "abc"}
    assert shares["a"] == pytest.approx(0.5, abs=0.02)
    assert shares["b"] == pytest.approx(0.3, abs=0.02)
    assert shares["c"] == pytest.approx(0.2, abs=0.02)
    assert served == [flag.resolve({"user": k}).variant for k in keys]


def test_override_wins_over_weights_and_a_tenant_may_have_spaces():
    flag = set_override(tiers(), "tenant", "globex corp", "cheap")
    forced = flag.resolve({"tenant": "globex corp"})
    assert forced.variant == "cheap" and forced.payload == "gpt-4o-mini" and forced.overridden
    assert flag.resolve({"tenant": "globex"}).variant == "standard"
    assert forced_variant(flag, "tenant", "globex corp") == "cheap"
    moved_back = set_override(flag, "tenant", "globex corp", "standard")
    assert forced_variant(moved_back, "tenant", "globex corp") == "standard"
    assert moved_back.variant("cheap").overrides == ()
    cleared = set_override(moved_back, "tenant", "globex corp", None)
    assert all(not v.overrides for v in cleared.variants)


def test_constraints_gate_the_flag_and_its_allow_list():
    flag = tiers(
        allow=["acme"],
        constraints=(
            Constraint("region", "IN", ("eu", "us")),
            Constraint("environment", "NOT_IN", ("dev",)),
        ),
    )
    assert flag.resolve({"tenant": "acme", "region": "eu"}).reason == "allowed"
    assert flag.resolve({"tenant": "acme", "region": "ap"}).reason == "unmatched"
    assert flag.resolve({"tenant": "x", "region": "us", "environment": "dev"}).on is False
    assert flag.resolve({"tenant": "x", "region": "us"}).reason == "targeted"


@pytest.mark.parametrize(
    "operator,bound,value,expected",
    [
        ("SEMVER_EQ", "1.2.3", "1.2.3", True),
        ("SEMVER_GT", "1.2.3", "1.10.0", True),
        ("SEMVER_LT", "1.2.3", "1.2.3-rc.1", True),
        ("SEMVER_GT", "1.2.3-beta.2", "1.2.3-beta.10", True),
        ("SEMVER_LT", "2.0.0", "not-a-version", False),
        ("NUM_LTE", "0.5", "0.25", True),
        ("DATE_AFTER", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00+02:00", True),
    ],
)
def test_value_operators(operator, bound, value, expected):
    c = Constraint("sdk_version", operator, value=bound)
    assert c.test({"sdk_version": value}) is expected
    assert c.test({}) is False


def test_invalid_definitions_are_refused_with_what_to_fix():
    with pytest.raises(InvalidValue, match="unknown operator"):
        Constraint("tenant", "LIKE", ("a",)).check()
    with pytest.raises(InvalidValue, match="needs a semantic version"):
        Constraint("v", "SEMVER_GT", value="one").check()
    with pytest.raises(InvalidValue, match="payload must be a string"):
        tiers(variants=(Variant("standard", 1, 4),)).check()
    with pytest.raises(InvalidValue, match="add up to more than 0"):
        tiers(variants=(Variant("a", 0, "x"),)).check()
    with pytest.raises(InvalidValue, match="appears twice"):
        tiers(variants=(Variant("a", 1, "x"), Variant("a", 1, "y"))).check()
    both = (
        Variant("a", 1, "x", (Override("tenant", ("t",)),)),
        Variant("b", 1, "y", (Override("tenant", ("t",)),)),
    )
    with pytest.raises(InvalidValue, match="forced to both"):
        tiers(variants=both).check()
    with pytest.raises(InvalidValue, match="carry no payload"):
        Flag("b", variants=(Variant("on", 1, "x"),)).check()


def test_payload_parsing_by_declared_type():
    assert parse_payload("0.25", "number") == 0.25
    assert parse_payload('{"model": "gpt-4o"}', "json") == {"model": "gpt-4o"}
    assert parse_payload("true", "string") == "true"
    with pytest.raises(InvalidValue, match="must be a number"):
        parse_payload("cheap", "number")
    with pytest.raises(InvalidValue, match="not valid JSON"):
        parse_payload("{model", "json")
    assert parse_weights("standard=90, cheap=10") == {"standard": 90, "cheap": 10}


def test_documents_round_trip_and_boolean_flags_keep_their_old_form():
    flag = set_override(
        tiers(constraints=(Constraint("region", "IN", ("eu",)),)), "tenant", "a b", "cheap"
    )
    again = Flag.from_doc(flag.to_doc())
    assert again == flag
    assert again.resolve({"tenant": "a b", "region": "eu"}).variant == "cheap"
    plain = Flag("old", enabled=True, rollout_bp=5000).to_doc()
    assert not {"value_type", "variants", "constraints", "variant_stickiness"} & set(plain)


async def test_variants_and_overrides_through_the_control_plane(plane):
    await plane.flags.create(
        "model-tier", enabled=True, stickiness="tenant", value_type="string", variants=TIERS
    )
    flag = await plane.flags.set_override(
        "model-tier", "tenant", "globex corp", "cheap", reason="cost explosion"
    )
    assert flag.version == 2 and flag.resolve({"tenant": "globex corp"}).payload == "gpt-4o-mini"
    flag = await plane.flags.set_weights("model-tier", {"standard": 90, "cheap": 10})
    assert [v.weight for v in flag.variants] == [90, 10]
    flag = await plane.flags.set_constraints(
        "model-tier", (Constraint("environment", "IN", ("prod",)),)
    )
    assert flag.resolve({"tenant": "x"}).on is False
    entries = await plane.audit.tail(10)
    assert [e.action for e in entries] == [
        "flag.create",
        "flag.override",
        "flag.variants",
        "flag.constraints",
    ]
    assert entries[1].reason == "cost explosion"
    assert entries[1].after["variants"][1]["overrides"] == [
        {"context": "tenant", "values": ["globex corp"]}
    ]


async def test_a_payload_of_the_wrong_type_is_refused_before_anything_is_written(plane):
    await plane.flags.create(
        "max-tokens", enabled=True, value_type="number", variants=(Variant("normal", 1, 4096),)
    )
    before = await plane.version()
    with pytest.raises(InvalidValue, match="payload must be a number"):
        await plane.flags.set_payload("max-tokens", "normal", "lots")
    with pytest.raises(NotFound, match="no variant 'huge'"):
        await plane.flags.set_payload("max-tokens", "huge", 1)
    assert await plane.version() == before
    assert [e.action for e in await plane.audit.tail(10)] == ["flag.create"]
    assert (await plane.flags.get("max-tokens")).variants[0].payload == 4096


async def test_viewers_cannot_move_tenants(plane, plane_as):
    await plane.flags.create("model-tier", enabled=True, value_type="string", variants=TIERS)
    viewer = plane_as("vic", "viewer")
    with pytest.raises(PermissionDenied):
        await viewer.flags.set_override("model-tier", "tenant", "globex", "cheap")


@pytest.mark.parametrize(
    "text",
    [
        "region IN eu,us",
        "tenant NOT_IN globex corp,initech",
        "email NOT STR_ENDS_WITH/i @acme.com",
        "sdk_version SEMVER_GT 1.2.0",
        "tier NUM_GTE 2",
        "current_time DATE_BEFORE 2027-01-01T00:00:00Z",
    ],
)
def test_constraint_text_reads_back_as_its_summary(text):
    from agentconsole.control.targeting import parse_constraint

    c = parse_constraint(text)
    assert c.summary() == text
    assert parse_constraint(c.summary()) == c


def test_readable_diff_of_a_valued_flag():
    from agentconsole.control.flag_diff import diff

    before = tiers()
    after = set_override(before, "tenant", "globex corp", "cheap")
    assert diff(before, after) == ["override tenant 'globex corp' → cheap"]
    assert diff(after.to_doc(), before.to_doc()) == [
        "override tenant 'globex corp' removed (was cheap; back to the weights)"
    ]
    reweighted = tiers(variants=(Variant("standard", 90, "gpt-4o"), Variant("cheap", 10, "x")))
    assert diff(before, reweighted) == [
        "variant standard: weight 100 → 90",
        "variant cheap: weight 0 → 10",
        'variant cheap: payload "gpt-4o-mini" → "x"',
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"variants": "standard"},
        {"variants": [{"weight": 1}]},
        {"variants": [{"name": "a", "weight": "heavy"}]},
        {"constraints": ["region IN eu"]},
        {"constraints": [{"operator": "IN"}]},
        {"value_type": "float"},
    ],
)
async def test_a_malformed_valued_document_is_one_problem_line_not_a_crash(plane, bad):
    import json

    from agentconsole.control import CorruptValue

    await plane.flags.create("good", enabled=True)
    doc = {"name": "broken", "enabled": True, "version": 1} | bad
    await plane.redis.hset(plane.keys.flags, "broken", json.dumps(doc))
    flags, problems = await plane.flags.list()
    assert [f.name for f in flags] == ["good"]
    assert len(problems) == 1 and "'broken'" in problems[0]
    with pytest.raises(CorruptValue):
        await plane.flags.get("broken")


def test_an_operator_from_a_newer_version_never_matches():
    flag = Flag.from_doc(
        {"name": "f", "enabled": True, "constraints": [{"context": "x", "operator": "REGEX"}]}
    )
    assert flag.resolve({"x": "anything"}).reason == "unmatched"
    inverted = Flag.from_doc(
        {
            "name": "f",
            "enabled": True,
            "constraints": [{"context": "x", "operator": "REGEX", "inverted": True}],
        }
    )
    assert inverted.resolve({"x": "anything"}).on is False
