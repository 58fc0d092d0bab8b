"""`agentconsole breakers ...`: trip with a duration, force-close, reset, durations, roles."""

from __future__ import annotations

import argparse
import time

import pytest

from agentconsole.cli.common import parse_duration
from tests.cli.conftest import assert_one_line


def test_trip_for_duration_list_and_reset(cli):
    before = time.time()
    r = cli("--json", "breakers", "trip", "openai", "--for", "15m", "--yes", "--reason", "outage")
    assert r.code == 0
    doc = r.json()
    assert doc["mode"] == "forced_open" and doc["mode_in_force"] == "forced_open"
    assert before + 900 <= doc["until"] <= time.time() + 900
    listed = cli("breakers", "list", "--json").json()["breakers"]
    assert [(b["dependency"], b["effective_state"]) for b in listed] == [("openai", "open")]
    assert "forced_open" in cli("breakers", "list").out
    r = cli("breakers", "force-close", "openai", "--for", "90s", "--yes")  # destructive
    assert r.code == 0 and "forced_closed" in r.out
    r = cli("breakers", "reset", "openai", "--reason", "recovered")
    assert r.code == 0 and "auto" in r.out
    listed = cli("breakers", "list", "--json").json()["breakers"]
    assert listed[0]["mode"]["mode"] == "auto" and listed[0]["mode"]["version"] == 3
    actions = [e["action"] for e in cli("audit", "tail", "--json").json()["entries"]]
    assert actions == ["breaker.trip", "breaker.force_close", "breaker.reset"]


def test_trip_asks_without_yes_and_changes_nothing(cli):
    r = cli("breakers", "trip", "vector-db")
    assert r.code == 1 and "--yes" in r.err
    assert_one_line(r)
    assert cli("breakers", "list", "--json").json()["breakers"] == []


def test_roles_checked_before_asking(cli):
    r = cli("breakers", "trip", "openai", role="viewer")
    assert r.code == 1 and "needs the responder role" in r.err
    assert cli("breakers", "trip", "openai", "--yes", role="responder").code == 0


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5m", "soon", "15x", "nan", "inf", ""])
def test_bad_durations(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_bad_duration_is_a_usage_error(cli):
    r = cli("breakers", "trip", "openai", "--for", "soon", "--yes")
    assert r.code == 2 and "duration" in r.err
    assert_one_line(r)


def test_bad_dependency_name(cli):
    r = cli("breakers", "reset", "no\tsuch dep")
    assert r.code == 2 and "invalid dependency" in r.err


class _Terminal:
    """stdin as an operator's terminal."""

    def isatty(self) -> bool:
        return True


def test_confirmation_on_a_terminal(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Terminal())
    asked: list[str] = []

    def answer(reply: str):
        def fake_input(question: str) -> str:
            asked.append(question)
            return reply

        return fake_input

    monkeypatch.setattr("builtins.input", answer("n"))
    r = cli("breakers", "trip", "openai", "--for", "15m")
    assert r.code == 1 and cli("breakers", "list", "--json").json()["breakers"] == []
    assert asked[0].startswith("Trip breaker openai for 15m: every agent stops calling it")
    monkeypatch.setattr("builtins.input", answer("y"))
    r = cli("breakers", "trip", "openai", "--for", "15m")
    assert r.code == 0 and "forced_open" in r.out
