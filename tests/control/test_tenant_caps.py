"""A tenant's own daily spend cap (``budget tenant``): audited, versioned, removable."""

from __future__ import annotations

import pytest

from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue, PermissionDenied


async def test_set_lower_and_remove_a_tenants_cap(plane) -> None:
    cap = ops.get("budget.tenant")
    line = ops.parse_line("cap globex 500")  # the short verb of the `:` line
    assert line.op is cap and line.args == {"tenant": "globex", "value": 500.0}
    line.reason = "burning"
    first = await cap.run(plane, line)
    assert first.text == (
        "daily cap of tenant globex: none -> $500 (its agents' calls are refused once its day "
        "reaches it)"
    )
    again = await cap.run(plane, cap.call({"tenant": "globex", "value": "250.5"}, reason="lower"))
    assert again.data["before"] == 500 and again.data["value"] == 250.5
    assert await plane.budgets.tenant_caps(["globex", "acme"]) == {"globex": 250.5}
    await cap.run(plane, cap.call({"tenant": "globex", "value": "0"}, reason="over"))
    assert await plane.budgets.tenant_caps(["globex"]) == {}
    entries = [e for e in await plane.audit.tail(10) if e.action == "budget.tenant"]
    assert [e.reason for e in entries] == ["burning", "lower", "over"]
    assert entries[0].target == "tenant:globex"
    limits = await plane.budgets.get()  # the limits document is untouched
    assert limits.version == 0


async def test_bad_values_and_roles_are_refused_before_anything_is_written(plane, plane_as) -> None:
    cap = ops.get("budget.tenant")
    for bad in ("-1", "nan", "1e999", "lots"):
        with pytest.raises(InvalidValue):
            cap.call({"tenant": "globex", "value": bad})
    viewer = plane_as("val", "viewer")
    with pytest.raises(PermissionDenied):
        await cap.run(viewer, cap.call({"tenant": "globex", "value": "5"}, reason="x"))
    responder = plane_as("rita", "responder")
    await cap.run(responder, cap.call({"tenant": "globex", "value": "5"}, reason="x"))
    assert await plane.budgets.tenant_caps(["globex"]) == {"globex": 5.0}


async def test_the_preview_names_the_cap_in_force(plane) -> None:
    await plane.budgets.set("tenant_daily_cost_usd", 4000, reason="t")
    cap = ops.get("budget.tenant")
    preview = await cap.preview(plane, cap.call({"tenant": "globex", "value": "100"}))
    assert preview.title == "Cap tenant globex at $100 a day (now $4,000 (tenant_daily_cost_usd))"
    assert preview.targets == ["globex"] and not preview.confirm
    asked = ops.Call(cap, {"tenant": "globex"})  # the console's C: the value is asked
    preview = await cap.preview(plane, asked)
    assert preview.title == "Daily spend cap of tenant globex (now $4,000 (tenant_daily_cost_usd))"
    removed = await cap.preview(plane, cap.call({"tenant": "globex", "value": "0"}))
    assert removed.title.startswith("Remove the daily spend cap of tenant globex")
