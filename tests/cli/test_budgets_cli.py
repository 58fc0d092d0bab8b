"""`agentconsole budgets ...`: limits in force, usage, live changes, bad values, roles."""

from __future__ import annotations

import pytest

from tests.cli.conftest import assert_one_line


async def test_show_defaults_then_set_and_usage(plane, acli):
    shown = (await acli("--json", "budgets", "show")).json()
    assert shown["limits"]["request_tokens"] == 4000
    assert shown["limits"]["user_daily_tokens"] == 50000 and shown["limits"]["version"] == 0
    r = await acli("budgets", "set", "user-daily-tokens", "60000", "--reason", "quarter end")
    assert r.code == 0 and "50,000 -> 60,000" in r.out
    r = await acli("budgets", "set", "user_daily_cost_usd", "7.5")
    assert r.code == 0
    limits = await plane.budgets.get()
    assert (limits.user_daily_tokens, limits.user_daily_cost_usd, limits.version) == (60000, 7.5, 2)
    reservation = await plane.budgets.reserve("bob", 1200, 0.02)
    await plane.budgets.commit(reservation, 1000, 0.015)
    r = await acli("budgets", "show")
    assert "60,000" in r.out and "$7.5" in r.out and "bob" in r.out and "1,000" in r.out
    usage = (await acli("budgets", "show", "--json")).json()["usage"]
    assert usage["bob"]["tokens"] == 1000 and usage["bob"]["cost_usd"] == pytest.approx(0.015)
    entry = (await plane.audit.tail(1))[0]
    assert entry.action == "budget.set" and entry.after["user_daily_cost_usd"] == 7.5


@pytest.mark.parametrize(
    "name,value,message,code",
    [  # the grammar refuses (usage, 2); the limit's own rule refuses (1)
        ("request_tokens", "-5", "cannot be negative", 2),
        ("user_daily_cost_usd", "-0.01", "cannot be negative", 2),
        ("request_tokens", "12.5", "whole number", 1),
        ("request_tokens", "lots", "must be a number", 2),
        ("user_daily_tokens", "inf", "finite number", 2),
        ("user_daily_cost_usd", "nan", "finite", 2),
        ("tokens", "5", "unknown budget", 2),
    ],
)
def test_bad_values(cli, name, value, message, code):
    r = cli("budgets", "set", name, value)
    assert r.code == code and message in r.err, r.err
    assert_one_line(r)


def test_negative_value_that_looks_like_an_option(cli):
    r = cli("budgets", "set", "request_tokens", "--", "-5")
    assert r.code == 2 and "negative" in r.err


def test_only_admin_sets(cli):
    r = cli("budgets", "set", "request_tokens", "100", role="responder")
    assert r.code == 1 and "needs the admin role" in r.err
    assert cli("budgets", "show", role="viewer").code == 0
