"""Our flag bucketing against the Unleash client-specification rollout cases.

Each Unleash feature is mapped onto our ``Flag``: the rollout percentage becomes basis points,
the stickiness field's value from the context becomes the bucketing key, ``groupId`` becomes
``group``. A feature is on when any of its strategies is. Variant and constraint cases are in
``test_unleash_valued_conformance.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from agentconsole.control.bucketing import (
    FULL,
    in_rollout,
    parse_percent,
    position,
    unleash_bucket,
)
from agentconsole.control.flags import Flag

DATA = Path(__file__).resolve().parents[1] / "data" / "unleash"
FILES = (
    "03-gradual-rollout-user-id-strategy.json",
    "10-flexible-rollout-strategy.json",
    "12-custom-stickiness.json",
)
SHARED = [
    Path("/work/shared/conformance/unleash"),
    Path(__file__).resolve().parents[3] / "shared" / "conformance" / "unleash",
]


def _spec(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _cases() -> list[Any]:
    cases = []
    for name in FILES:
        spec = _spec(name)
        features = {f["name"]: f for f in spec["state"]["features"]}
        for test in spec["tests"]:
            cases.append(
                pytest.param(
                    features[test["toggleName"]],
                    test["context"],
                    test["expectedResult"],
                    id=f"{name[:2]}:{test['description']}",
                )
            )
    return cases


def _context_value(context: dict[str, Any], field: str) -> str | None:
    """Unleash reads custom fields from ``properties``; the spec files also put them on top."""
    value = context.get(field)
    if value is None:
        value = (context.get("properties") or {}).get(field)
    return None if value in (None, "") else str(value)


def _key(stickiness: str, context: dict[str, Any]) -> str | None:
    if stickiness == "default":  # userId, then sessionId, then random (= no sticky key)
        return _context_value(context, "userId") or _context_value(context, "sessionId")
    return _context_value(context, stickiness)


def _strategy_on(feature: dict[str, Any], strategy: dict[str, Any], context: dict) -> bool:
    name, params = strategy["name"], strategy.get("parameters") or {}
    if name == "default":
        return Flag(feature["name"], enabled=True, rollout_bp=FULL).evaluate(None)
    if name == "gradualRolloutUserId":
        key = _context_value(context, "userId")
        if key is None:  # this strategy needs a userId, even at 100%
            return False
        percent, stickiness = params["percentage"], "userId"
    elif name == "flexibleRollout":
        percent, stickiness = params["rollout"], params.get("stickiness", "default")
        key = _key(stickiness, context)
    else:
        pytest.fail(f"strategy {name!r} appears in the data but is not mapped")
    flag = Flag(
        feature["name"],
        enabled=True,
        rollout_bp=parse_percent(percent),
        stickiness={"userId": "user"}.get(stickiness, "agent"),
        group=params.get("groupId", ""),
    )
    return flag.evaluate(key)


@pytest.mark.parametrize("feature,context,expected", _cases())
def test_unleash_case(feature, context, expected):
    on = feature["enabled"] and any(
        _strategy_on(feature, s, context) for s in feature.get("strategies", [])
    )
    assert on is expected


def test_every_case_is_covered():
    assert len(_cases()) == 20  # 6 + 9 + 5 cases in the three files


def test_vendored_copy_matches_the_shared_one():
    shared = next((p for p in SHARED if p.is_dir()), None)
    if shared is None:
        pytest.skip("no shared conformance directory on this machine")
    for name in FILES:
        assert (DATA / name).read_bytes() == (shared / name).read_bytes(), name


def _keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"user-{rng.getrandbits(48):x}" for _ in range(n)]


@pytest.mark.parametrize("group", ["Feature.B3", "g", "tenant-rollout"])
def test_whole_percents_agree_with_unleash(group):
    keys = _keys(2000, seed=len(group))
    for percent in range(0, 101):
        for key in keys:
            ours = in_rollout(percent * 100, group, key)
            assert ours is (percent > 0 and unleash_bucket(group, key) <= percent), (percent, key)


def test_basis_point_rollouts_are_monotonic():
    """Raising a rollout only ever adds keys: nobody flips off when it goes up."""
    keys = _keys(3000, seed=7)
    rng = random.Random(11)
    steps = sorted({0, FULL, *(rng.randrange(0, FULL + 1) for _ in range(60))})
    previous: set[str] = set()
    for bp in steps:
        current = {k for k in keys if in_rollout(bp, "grp", k)}
        assert previous <= current, bp
        previous = current
    assert previous == set(keys)


def test_basis_points_are_fine_grained_and_fair():
    keys = _keys(20000, seed=3)
    positions = [position("grp", k) for k in keys]
    assert min(positions) >= 0 and max(positions) < FULL
    inside = sum(p < 1250 for p in positions) / len(keys)  # 12.5 %
    assert 0.115 < inside < 0.135
    assert sum(p < 1 for p in positions) < 20  # 0.01 % of 20,000 is ~2
