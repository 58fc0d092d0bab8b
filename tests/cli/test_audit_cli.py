"""`agentconsole audit tail`: the timeline, as a table, as JSON, and followed live."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

AGENTCONSOLE = str(Path(sys.executable).with_name("agentconsole"))


def test_tail_counts_and_summaries(cli):
    cli("flags", "create", "f", "--reason", "ticket-7")
    cli("flags", "rollout", "f", "25")
    cli("breakers", "trip", "openai", "--yes")
    entries = cli("--json", "audit", "tail", "-n", "2").json()["entries"]
    assert [e["action"] for e in entries] == ["flag.rollout", "breaker.trip"]
    assert entries[0]["before"]["rollout_bp"] == 10000 and entries[0]["after"]["rollout_bp"] == 2500
    assert entries[0]["actor"] == "alice" and entries[0]["role"] == "admin"
    out = cli("audit", "tail").out.splitlines()
    assert out[0].startswith("TIME (UTC)") and len(out) == 4
    assert "created" in out[1] and "ticket-7" in out[1]
    assert "rollout: 100% → 25%" in out[2]


def test_empty(cli):
    r = cli("audit", "tail")
    assert r.code == 0 and r.out.strip() == "no audit entries"


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        assert sel.select(timeout), "no line within the timeout"
        return proc.stdout.readline()
    finally:
        sel.close()


def test_follow_prints_new_entries_as_they_happen(cli, cli_env):
    cli("flags", "create", "f")
    env = os.environ | cli_env
    proc = subprocess.Popen(
        [AGENTCONSOLE, "audit", "tail", "-n", "1", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = json.loads(_read_line(proc, 10))
        assert first["action"] == "flag.create"
        cli("flags", "enable", "f", "--reason", "live")
        second = json.loads(_read_line(proc, 30))
        assert second["action"] == "flag.enable" and second["reason"] == "live"
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def test_summary_shows_times_as_clock_times(cli):
    cli("breakers", "trip", "openai", "--for", "1h", "--yes")
    cli("breakers", "reset", "openai")
    last = cli("audit", "tail", "-n", "1").out.splitlines()[1]
    assert "mode: forced_open → auto" in last and " UTC → none" in last and "until: " in last
