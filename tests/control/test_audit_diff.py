"""The one reading of an audited change: words, clock times, percentages; no JSON."""

import time

from agentconsole.control import audit_diff

T = 1_796_172_779.0
HMS = time.strftime("%H:%M:%S", time.gmtime(T + 900))


def test_a_flag_change_reads_through_the_flag_diff():
    before = {"name": "f", "enabled": True, "rollout_bp": 500, "version": 1, "changed_at": T}
    after = {**before, "rollout_bp": 5000, "version": 2, "changed_at": T + 5, "reason": "go"}
    assert audit_diff.lines("flag", before, after) == ["rollout: 5% → 50%"]


def test_other_entities_field_by_field_with_times_in_utc():
    before = {"mode": "auto", "until": None, "changed_at": T, "version": 1}
    after = {"mode": "forced_open", "until": T + 900, "changed_at": T, "version": 2}
    assert audit_diff.lines("breaker", before, after, at=T) == [
        "mode: auto → forced_open",
        f"until: none → {HMS} UTC (15m later)",
    ]
    assert audit_diff.changed(before, after) == {"mode", "until"}


def test_created_removed_and_bookkeeping_left_out():
    doc = {"target": "tenant:acme", "scope": "tenant", "at": T, "id": "x1", "requester": "a"}
    created = ["created", "scope: tenant", "target: tenant:acme"]
    assert audit_diff.lines("kill", None, doc) == created
    assert audit_diff.lines("kill", doc, None) == ["removed"]
    assert audit_diff.lines("kill", doc, {**doc, "at": T + 1}) == ["no field changed"]


def test_values_in_words():
    assert audit_diff.value("run_max_seconds", 900.0) == "15m"
    assert audit_diff.value("user_daily_cost_usd", 5) == "$5.00"
    assert audit_diff.value("tracked", False) == "no"
    assert audit_diff.value("allow", ["u1", "u2"]) == "u1, u2"
    assert audit_diff.value("plan", {"steps": [5, 50]}) == '{"steps": [5, 50]}'
    assert audit_diff.value("note", "evil\x1b[31m text") == "evil text"  # sanitised
