"""Exactly once: a change asked twice with the same change id is applied once."""

from __future__ import annotations

import pytest

from agentconsole.control.keys import Keys
from agentconsole.control.plane import CHANGE_ID_TTL, new_change_id


async def _enable(plane, change_id: str):
    return await plane.apply(
        hash_key=plane.keys.flags,
        field="f",
        entity="flag",
        action="flag.enable",
        new_doc={"name": "f", "enabled": True},
        expected_version=1,
        reason="twice",
        change_id=change_id,
    )


async def test_same_change_id_twice_returns_the_first_outcome(plane):
    await plane.flags.create("f")
    change_id = new_change_id()
    first = await _enable(plane, change_id)
    second = await _enable(plane, change_id)  # a retry: the version moved on, yet no conflict
    assert not first.repeated and second.repeated
    assert second.cp_version == first.cp_version and second.doc == first.doc
    assert await plane.version() == first.cp_version
    entries = [e for e in await plane.audit.tail(10) if e.action == "flag.enable"]
    assert len(entries) == 1 and entries[0].change_id == change_id
    ttl = await plane.redis.ttl(plane.keys.change(change_id))
    assert 0 < ttl <= CHANGE_ID_TTL  # remembered for a while, then forgotten


async def test_a_new_change_id_is_a_new_change(plane):
    from agentconsole.control import Conflict

    await plane.flags.create("f")
    await _enable(plane, new_change_id())
    with pytest.raises(Conflict):  # same expected version, new id: compare-and-set decides
        await _enable(plane, new_change_id())


def test_change_ids_are_unique_and_keyed_in_the_control_slot():
    ids = {new_change_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert Keys("ac").change("x").startswith("{ac}:")


async def test_an_invalid_document_is_refused_by_the_script(plane):
    from agentconsole.control import InvalidValue

    with pytest.raises(InvalidValue, match="rollout_bp"):
        await plane.apply(
            hash_key=plane.keys.flags,
            field="f",
            entity="flag",
            action="flag.create",
            new_doc={"name": "f", "rollout_bp": 10001},
            expected_version=None,
        )
    assert await plane.version() == 0 and not (await plane.flags.list())[0]
