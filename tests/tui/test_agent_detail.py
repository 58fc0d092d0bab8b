"""Enter on an agent: its run in full and its trace, which `o` opens or copies."""

import pytest

from agentconsole.control.registry import AgentRecord
from agentconsole.tui.agent_detail import AgentDetailScreen, can_open_browser
from tests.tui.conftest import T0, fleet, seed_agents, select_row, wait_until

SIZE = (140, 40)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _shown(app) -> str:
    return str(app.screen.query_one("#agent-detail").render())


@pytest.fixture
def desktop(monkeypatch):
    """No SSH, no display: the console cannot open a browser, as in tmux on a server."""
    for var in ("SSH_CONNECTION", "SSH_TTY", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    return monkeypatch


async def _open(app, pilot, agent: str = "agent-007") -> None:
    await select_row(pilot, app, "agents", agent)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, AgentDetailScreen))
    await wait_until(pilot, lambda: app.screen.detail is not None, what="detail loaded")


async def test_detail_shows_the_run_and_o_copies_its_trace_url(
    plane, settings, app_factory, desktop
):
    settings.traces.url_template = "https://jaeger.example/trace/{trace_id}?tenant={tenant}"
    records = [
        *fleet(),
        AgentRecord(
            id="agent-007",
            task="refund loop",
            user="u7",
            tenant="globex corp",
            model="gpt-4o",
            trace_id=TRACE,
            host="worker-3",
            pid=4242,
            steps=44,
            tokens_in=9000,
            tokens_out=1000,
            cost=0.5,
            started_at=T0 - 300,
        ),
    ]
    await seed_agents(plane, records)
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        shown = _shown(app)
        for part in (
            "agent-007",
            "refund loop",
            "globex corp",
            "worker-3 pid 4242",
            TRACE,
            "10,000 (9,000 in, 1,000 out)",
            "o copies the trace URL",
        ):
            assert part in shown, part
        assert "runaway" in shown and "steps" in shown  # 44 of 50: the rule the lists use
        await pilot.press("o")
        url = f"https://jaeger.example/trace/{TRACE}?tenant=globex%20corp"
        assert app.clipboard == url
        assert app.toasts[-1] == f"copied {url}"  # tmux/SSH: the URL on screen too
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AgentDetailScreen))


async def test_o_opens_the_browser_on_a_desktop(plane, settings, app_factory, desktop):
    settings.traces.url_template = "https://tempo.example/trace/{trace_id}"
    desktop.setenv("DISPLAY", ":0")
    await seed_agents(plane, [AgentRecord(id="agent-007", tenant="acme", trace_id=TRACE)])
    app = app_factory(start_view="agents")
    opened = []
    app.open_url = lambda url, **kw: opened.append(url)  # the browser is not ours to start
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        await pilot.press("o")
        assert opened == [f"https://tempo.example/trace/{TRACE}"] and app.clipboard == opened[0]
        assert app.toasts[-1].startswith("opened and copied https://tempo.example")


async def test_without_a_template_o_copies_the_trace_id(plane, app_factory, desktop):
    await seed_agents(plane, [AgentRecord(id="agent-007", tenant="acme", trace_id=TRACE)])
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        assert "set traces.url_template" in _shown(app)
        await pilot.press("o")
        assert app.clipboard == TRACE and "no traces.url_template set" in app.toasts[-1]


async def test_enter_on_a_runaway_of_the_overview_opens_its_detail(plane, app_factory):
    await seed_agents(plane, fleet())  # agent-003: 77 steps, over budget
    app = app_factory(start_view="overview")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("overview").runaway_table
        await wait_until(pilot, lambda: "agent-003" in table.painted)
        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AgentDetailScreen))
        assert app.screen.agent_id == "agent-003"


def test_a_browser_only_on_the_operators_own_desktop():
    assert not can_open_browser({"SSH_CONNECTION": "1 2 3 4", "DISPLAY": ":0"})
    assert can_open_browser({"DISPLAY": ":0"}) and can_open_browser({"WAYLAND_DISPLAY": "w"})


async def test_o_in_the_agents_view_opens_the_selected_agents_trace(
    plane, settings, app_factory, desktop
):
    settings.traces.url_template = "https://jaeger.example/trace/{trace_id}"
    await seed_agents(plane, [AgentRecord(id="agent-007", tenant="acme", trace_id=TRACE)])
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "agents", "agent-007")
        await pilot.press("o")
        url = f"https://jaeger.example/trace/{TRACE}"
        await wait_until(pilot, lambda: app.clipboard == url, what="copied")
        assert isinstance(app.screen, AgentDetailScreen) and app.toasts[-1] == f"copied {url}"


async def test_the_detail_stays_live(plane, settings, app_factory):
    settings.ui.refresh_seconds = 0.2
    await seed_agents(plane, [AgentRecord(id="agent-007", tenant="acme", steps=3)])
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        assert app.screen.detail.record.steps == 3
        await seed_agents(plane, [AgentRecord(id="agent-007", tenant="acme", steps=9)])
        await wait_until(pilot, lambda: app.screen.detail.record.steps == 9, 10, what="live")
