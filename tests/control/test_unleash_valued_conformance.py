"""Our variants and targeting constraints against the Unleash client-specification cases.

Each Unleash strategy becomes one of our ``Flag``s (a feature is on when any strategy is,
and the first strategy that is on picks the variant, as in Unleash):
- context names: ``userId`` -> ``user``, ``currentTime`` -> ``current_time``, ``properties``
  -> top-level custom fields; ``environment`` and ``appName`` keep their names;
- Unleash's ``default`` stickiness (userId, then sessionId, then random) becomes a field of
  its own holding that chain's first value; a custom stickiness keeps its field name;
- a strategy's variants hash in its ``groupId`` (our ``group``); a feature's own variants,
  used when the strategy that matched has none, hash in the feature's name;
- payloads become typed values (``"1.2"`` of type number is ``1.2``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentconsole.control.bucketing import FULL, parse_percent
from agentconsole.control.flags import Flag, Resolution
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Override, Variant

DATA = Path(__file__).resolve().parents[1] / "data" / "unleash"
VARIANT_FILES = {"08-variants.json": 17, "16-strategy-variants.json": 11}
CONSTRAINT_FILES = {"09-strategy-constraints.json": 17, "13-constraint-operators.json": 46}
SHARED = [
    Path("/work/shared/conformance/unleash"),
    Path(__file__).resolve().parents[3] / "shared" / "conformance" / "unleash",
]
CONTEXT_NAMES = {"userId": "user", "currentTime": "current_time", "sessionId": "session"}
DEFAULT_STICKY = "unleash-default-key"


def _spec(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _cases(files: dict[str, int], tests_key: str) -> list[Any]:
    cases = []
    for name in files:
        spec = _spec(name)
        features = {f["name"]: f for f in spec["state"]["features"]}
        for test in spec[tests_key]:
            cases.append(
                pytest.param(
                    features.get(test["toggleName"]),
                    test["context"],
                    test["expectedResult"],
                    id=f"{name[:2]}:{test['description']}",
                )
            )
    return cases


def _context(unleash: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for name, value in unleash.items():
        if name != "properties" and value is not None:
            ctx[CONTEXT_NAMES.get(name, name)] = value
    for name, value in (unleash.get("properties") or {}).items():
        if value is not None:
            ctx[name] = value
    chain = (ctx.get(k) for k in ("user", "session", "remoteAddress"))
    default_key = next((v for v in chain if v), None)
    if default_key is not None:
        ctx[DEFAULT_STICKY] = default_key
    return ctx


def _stickiness(name: str | None) -> str:
    return DEFAULT_STICKY if name in (None, "", "default") else CONTEXT_NAMES.get(name, name)


def _payload(payload: dict[str, Any] | None) -> tuple[str, Any]:
    if payload is None:
        return "string", None
    kind, value = payload["type"], payload["value"]
    if kind == "number":
        return "number", float(value) if "." in value else int(value)
    if kind == "json":
        return "json", json.loads(value)
    return "string", value


def _variants(raw: list[dict[str, Any]]) -> tuple[str, tuple[Variant, ...]]:
    value_type, variants = "string", []
    for v in raw:
        value_type, payload = _payload(v.get("payload"))
        overrides = tuple(
            Override(CONTEXT_NAMES.get(o["contextName"], o["contextName"]), tuple(o["values"]))
            for o in v.get("overrides") or ()
        )
        variants.append(Variant(v["name"], int(v["weight"]), payload, overrides))
    return value_type, tuple(variants)


def _constraint(c: dict[str, Any]) -> Constraint:
    return Constraint(
        context=CONTEXT_NAMES.get(c["contextName"], c["contextName"]),
        operator=c["operator"],
        values=tuple(c.get("values") or ()),
        value=str(c.get("value", "")),
        case_insensitive=bool(c.get("caseInsensitive", False)),
        inverted=bool(c.get("inverted", False)),
    )


def _strategy_flag(feature: dict[str, Any], strategy: dict[str, Any]) -> Flag:
    name, params = strategy["name"], strategy.get("parameters") or {}
    allow: list[str] = []
    stickiness = params.get("stickiness", "default")
    if name == "default":
        rollout = FULL
    elif name == "flexibleRollout":
        rollout = parse_percent(params["rollout"])
    elif name == "userWithId":
        rollout, stickiness = 0, "userId"
        allow = [u.strip() for u in params["userIds"].split(",")]
    else:
        pytest.fail(f"strategy {name!r} appears in the data but is not mapped")
    value_type, variants = _variants(strategy.get("variants") or [])
    return Flag(
        feature["name"],
        enabled=feature["enabled"],
        rollout_bp=rollout,
        stickiness=_stickiness(stickiness),
        group=params.get("groupId", ""),
        allow=allow,
        value_type=value_type,
        variants=variants,
        constraints=tuple(_constraint(c) for c in strategy.get("constraints") or ()),
    )


def _resolve(feature: dict[str, Any] | None, ctx: dict[str, Any]) -> Resolution | None:
    """The first strategy that is on decides, like Unleash; None when the feature is off."""
    if feature is None or not feature["enabled"]:
        return None
    strategies = feature.get("strategies") or [{"name": "default"}]
    for strategy in strategies:
        flag = _strategy_flag(feature, strategy)
        result = flag.resolve(ctx)
        if not result.on:
            continue
        if flag.variants:
            return result
        raw = feature.get("variants") or []
        value_type, variants = _variants(raw)
        sticky = raw[0].get("stickiness") if raw else None
        own = Flag(
            feature["name"],
            enabled=True,
            stickiness=_stickiness(sticky),
            value_type=value_type,
            variants=variants,
        )
        return own.resolve(ctx)
    return None


@pytest.mark.parametrize("feature,context,expected", _cases(CONSTRAINT_FILES, "tests"))
def test_constraint_case(feature, context, expected):
    result = _resolve(feature, _context(context))
    assert (result is not None and result.on) is expected


@pytest.mark.parametrize("feature,context,expected", _cases(VARIANT_FILES, "variantTests"))
def test_variant_case(feature, context, expected):
    result = _resolve(feature, _context(context))
    assert (result is not None and result.on) is expected["feature_enabled"]
    served = result.variant if result is not None else None
    assert (served or "disabled") == expected["name"]
    assert (served is not None) is expected["enabled"]
    if "payload" in expected:
        _, payload = _payload(expected["payload"])
        assert result.payload == payload and type(result.payload) is type(payload)


def test_every_case_is_covered():
    assert len(_cases(VARIANT_FILES, "variantTests")) == sum(VARIANT_FILES.values())
    assert len(_cases(CONSTRAINT_FILES, "tests")) == sum(CONSTRAINT_FILES.values())


def test_vendored_copies_match_the_shared_ones():
    shared = next((p for p in SHARED if p.is_dir()), None)
    if shared is None:
        pytest.skip("no shared conformance directory on this machine")
    for name in (*VARIANT_FILES, *CONSTRAINT_FILES):
        assert (DATA / name).read_bytes() == (shared / name).read_bytes(), name
