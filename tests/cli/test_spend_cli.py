"""`agentconsole spend`: the Spend view's table and forecast, printed."""

from __future__ import annotations

from agentconsole.control.registry import AgentRecord
from agentconsole.metrics import forecast as fc
from tests.fixtures.procs import free_port


async def test_spend_prints_the_forecast_the_tenants_and_the_agents(
    acli, plane, prometheus, monkeypatch
) -> None:
    monkeypatch.setenv("AGENTCONSOLE_PROMETHEUS_URL", prometheus.url)
    await plane.budgets.set_tenant_cap("beta", 0.01, reason="test")
    await plane.agents.heartbeat(AgentRecord(id="big", tenant="acme", cost=9.5, steps=3))
    result = await acli("spend")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("beta is over its $0.01 daily cap: $")
    at = next(i for i, line in enumerate(lines) if line.startswith("TENANT"))
    assert lines[at].split() == [h.upper() for h in fc.TENANT_HEADERS]
    beta, acme = lines[at + 1], lines[at + 2]  # over its cap first
    assert beta.startswith("beta ") and "$0.01*" in beta and "OVER CAP" in beta
    assert acme.startswith("acme ")
    assert "no cap set" in acme and "/h" in acme  # the 2m rate of a young Prometheus
    assert any(line.startswith("big ") and "$9.50" in line for line in lines)

    await plane.agents.heartbeat(AgentRecord(id="beta-1", tenant="beta", cost=0.2, steps=1))
    data = (await acli("spend", "--json", "--top", "1", "--tenant", "beta")).json()
    assert [t["tenant"] for t in data["tenants"]] == ["beta"]
    assert data["tenants"][0]["state"] == "over"  # beta: over its own cap, however small
    assert data["agents_of"] == "beta" and [a["id"] for a in data["agents"]] == ["beta-1"]


async def test_spend_with_prometheus_down_says_why_and_fails(acli, monkeypatch) -> None:
    monkeypatch.setenv("AGENTCONSOLE_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    result = await acli("spend")
    assert result.code == 1
    assert result.out.startswith("no forecast: Prometheus unreachable")


def test_spend_refuses_a_bad_top(cli) -> None:
    result = cli("spend", "--top", "0")
    assert result.code == 2 and "--top must be between 1 and 100" in result.err


async def test_spend_with_redis_down_prints_the_spend_and_exits_3(acli, monkeypatch, prometheus):
    monkeypatch.setenv("AGENTCONSOLE_PROMETHEUS_URL", prometheus.url)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = await acli("spend")
    assert result.code == 3
    assert "cap unknown" in result.out and "Redis:" in result.out


async def test_spend_window_names_the_burn_rate_it_used(acli, monkeypatch, prometheus) -> None:
    monkeypatch.setenv("AGENTCONSOLE_PROMETHEUS_URL", prometheus.url)
    data = (await acli("spend", "--json", "--window", "15m")).json()
    assert data["window"] == "15m" and "over the last 15m" in data["tenants"][0]["forecast"]


def test_spend_refuses_a_bad_window(cli) -> None:
    result = cli("spend", "--window", "soon")
    assert result.code == 2 and "--window" in result.err
