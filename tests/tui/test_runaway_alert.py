"""AgentRunaway and TOP RUNAWAY AGENTS describe one thing, or the overview says why not.

End to end with real parts: an SDK run hits the runaway guard, a real Prometheus scrapes
the agent's /metrics with the shipped rules, and the console reads both.
"""

import re
import time

from agentconsole.agent.errors import RunawayStopped
from agentconsole.control.registry import AgentRecord
from agentconsole.tui.views.overview import runaway_note
from tests.fixtures.procs import free_port
from tests.fixtures.prometheus import start_prometheus
from tests.tui.conftest import make_app, wait_until


def _note(app) -> str:
    return str(app.view("overview").query_one("#runaway-note").render())


async def test_a_guard_stop_fires_the_alert_and_the_overview_says_why_the_list_is_empty(
    settings, plane, make_runtime, tmp_path
):
    await plane.budgets.set("run_max_steps", 3, reason="test: a short leash")
    rt = await make_runtime()
    port = free_port()
    rt.serve_metrics(port)
    with start_prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"]) as prom:
        prom.wait_for("agent_runaway_total == 0")  # scraped before: the stop is an increase
        prom.wait_for("agent_run_step_limit == 3")  # the live limit the alert judges by
        try:
            async with rt.run(task="loop", tenant="acme") as run:
                for _ in range(5):
                    run.step()
        except RunawayStopped:
            pass
        prom.wait_for('ALERTS{alertname="AgentRunaway", alertstate="firing"}', timeout=30)
        settings.prometheus.url = prom.url
        app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
        async with app.run_test(size=(160, 45)) as pilot:
            overview = app.view("overview")
            await wait_until(pilot, lambda: "fires" in _note(app), 30, what="the note")
            # the stopped run is finished: not in the list, and the note says so
            assert not overview.runaway_table.painted
            assert re.fullmatch(
                r"AgentRunaway fires for the \d+ runs? the guard stopped in 5m; "
                r"none of the 50 costliest running agents is near a limit",
                _note(app),
            ), _note(app)
            assert any(a.name == "AgentRunaway" for a in overview.alerts.values())
            # an agent near its limit now: listed, and the note no longer says "none"
            await plane.agents.write_many(
                [AgentRecord(id="loop-2", tenant="acme", steps=3, started_at=time.time())],
                at=time.time(),
            )
            await wait_until(pilot, lambda: "loop-2" in overview.runaway_table.painted, 30)
            await wait_until(pilot, lambda: "none of" not in _note(app), 30)
            assert _note(app).startswith("AgentRunaway fires; the guard also stopped")


class _Alert:
    def __init__(self, name: str, state: str = "firing") -> None:
        self.name, self.state = name, state


def test_the_note_for_each_disagreement():
    firing = {"a": _Alert("AgentRunaway")}
    assert runaway_note(None, None, 3, {"budget"}) == ""  # no alerts source: no comparison
    assert runaway_note({}, [], 0, set()) == ""  # both quiet: agree
    assert runaway_note(firing, [], 2, {"steps"}) == "AgentRunaway fires"
    assert "near its step limit; none of the 50 costliest" in runaway_note(firing, [], 0, set())
    assert runaway_note({}, [], 1, {"budget", "stale"}) == (
        "no AgentRunaway: it watches steps and guard stops, these are listed for budget, stale"
    )
    assert runaway_note({}, [], 1, {"steps"}) == ""  # the alert follows within a scrape
