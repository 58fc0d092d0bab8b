"""The demo explains itself: a first screen (real vs simulated, the story, what to try) and
an attach file that points a second terminal's CLI at it."""

import subprocess
import time

from agentconsole.sim import demo, scenarios
from tests.tui.conftest import make_app, wait_until


def test_attach_file_points_a_second_cli_at_the_demo(tmp_path, settings):
    stack = demo.DemoStack(workdir=tmp_path, redis_port=settings_port(settings))
    config = demo.write_demo_config(stack)
    path = demo.write_attach_file(stack)
    try:
        assert demo.attach_command() == f". {path} && agentconsole status"
        # what a second terminal does: source it, run the CLI it names
        shell = f". {path} && agentconsole --help >/dev/null && echo $AGENTCONSOLE_CONFIG"
        out = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == str(config)
    finally:
        demo.remove_attach_file(stack)
    assert not path.exists()


def test_attach_file_of_another_demo_is_left_alone(tmp_path):
    mine = demo.DemoStack(workdir=tmp_path / "mine")
    other = demo.DemoStack(workdir=tmp_path / "other")
    path = demo.write_attach_file(other)  # a second demo started after mine
    try:
        demo.remove_attach_file(mine)
        assert path.exists()
    finally:
        demo.remove_attach_file(other)


def test_welcome_says_what_is_simulated_and_what_to_try(tmp_path):
    text = demo.welcome(demo.DemoStack(workdir=tmp_path), 200, "story")
    assert "Simulated: 200 agents" in text and "fake LLM" in text
    for name, _seconds in scenarios.STORY:
        assert name in text
    assert "Enter on an alert opens its runbook" in text and "k on TOP RUNAWAY" in text
    assert demo.attach_command() in text
    single = demo.welcome(demo.DemoStack(workdir=tmp_path), 5, "runaway")
    assert "Scenario: runaway (some agents loop" in single


async def test_the_console_opens_on_the_welcome_and_enter_starts(settings):
    from agentconsole.tui.welcome import WelcomeScreen

    app = make_app(settings, start_view="overview", clock=time.time, welcome="Hello demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, WelcomeScreen), what="welcome")
        assert "Hello demo" in str(app.screen.query_one("#welcome-text").render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, WelcomeScreen))
        await app.wait_for_paint("overview")


def settings_port(settings) -> int:
    return int(settings.redis.url.rsplit(":", 1)[1].split("/")[0])
