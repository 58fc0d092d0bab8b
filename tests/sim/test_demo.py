"""The demo end to end: real redis-server, prometheus, alertmanager and simulator processes.

A latency spike (runs long enough to be caught running) makes the shipped p99 alert fire; the
console shows it; a kill pressed in the console stops a simulated agent, which acknowledges;
afterwards no child process, port or temporary directory is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentconsole.config import load_settings
from agentconsole.sim.demo import DemoError, demo_stack, free_port
from tests.fixtures.wait import killed_row
from tests.tui.conftest import confirm, wait_until

pytestmark = pytest.mark.slow

SIZE = (160, 48)
SPIKE_ALERTS = {"AgentHighP99Latency"}


def _closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_latency_alert_shows_and_console_kill_reaches_a_simulated_agent():
    from agentconsole.control import ControlPlane
    from agentconsole.tui.app import AppOptions, ConsoleApp

    with demo_stack(agents=60, scenario="latency-spike", log=lambda _m: None) as stack:
        workdir, children = stack.workdir, list(stack.children)
        settings = load_settings(str(workdir / "demo.yaml"))
        app = ConsoleApp(settings, AppOptions(ack_timeout=5.0))
        async with app.run_test(size=SIZE) as pilot:
            overview = app.view("overview")

            def alert_firing() -> bool:
                names = {a.name for a in overview.alerts.values() if a.state == "firing"}
                return bool(names & SPIKE_ALERTS)

            await wait_until(pilot, alert_firing, timeout=150, what="the latency alert")
            await pilot.press("2")
            agents = app.view("agents")
            table = agents.table
            await wait_until(pilot, lambda: len(table.painted) > 0, what="agent rows")
            victim, toast = None, ""
            for _attempt in range(5):  # a simulated run may finish between choice and kill
                app.toasts.clear()

                def running() -> list[str]:
                    return [
                        b.id
                        for b in agents.briefs.values()
                        if b.status == "running" and b.id in table.painted
                    ]

                await wait_until(pilot, lambda: bool(running()), what="a running agent")
                victim = running()[0]
                table.move_cursor(row=table.get_row_index(victim))
                await pilot.press("k")
                await confirm(pilot, reason="demo e2e")
                await wait_until(
                    pilot,
                    lambda: any(answer in t for t in app.toasts for answer in ANSWERS),
                    timeout=60,  # generous: a loaded CI machine, not a latency bound
                    what="kill toast",
                )
                toast = next(t for t in app.toasts if any(a in t for a in ANSWERS))
                if "acknowledged" in toast and not toast.startswith("killed 0 agents"):
                    break
                await pilot.pause(0.5)
            assert toast.startswith("killed 1 agent, 1 acknowledged"), toast
        app.backend.stop()
        plane = ControlPlane.from_settings(settings)
        try:
            record = await killed_row(plane, victim)
            assert record.kill_ack_at > 0
        finally:
            await plane.close()
        ports = [stack.redis_port, stack.prometheus_port, stack.metrics_port]
    assert all(child.proc.poll() is not None for child in children)
    assert not workdir.exists()
    assert all(_closed(port) for port in ports)


# the kill's outcome: acknowledged, or the run ended between the choice and the kill
ANSWERS = ("acknowledged", "no running agent matched")


def _run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90):
    return subprocess.run(
        [sys.executable, "-m", "agentconsole", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def test_headless_demo_saves_a_screenshot_and_leaves_nothing(tmp_path: Path):
    shot = tmp_path / "console.svg"
    ports = {name: free_port() for name in ("redis", "prometheus", "metrics")}
    tmp, env = _own_tmp(tmp_path)
    result = _run_cli(
        "demo",
        "--headless",
        "--seconds",
        "4",
        "--agents",
        "20",
        "--screenshot",
        str(shot),
        *(arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    svg = shot.read_text()
    assert svg.startswith("<svg") and "agentconsole" in svg
    assert all(_closed(port) for port in ports.values())
    assert list(tmp.iterdir()) == []


def test_missing_binary_names_what_to_install(tmp_path: Path):
    env = dict(os.environ, PATH=str(tmp_path))  # an empty PATH: no redis-server, no prometheus
    result = _run_cli("demo", "--headless", "--seconds", "1", env=env, timeout=30)
    assert result.returncode == 1
    assert "redis-server is not installed" in result.stderr and "apt-get" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_already_taken_is_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = demo_stack(agents=1, ports={"redis": port}, log=lambda _m: None)
        with pytest.raises(DemoError, match=f"port {port} .*already taken"), stack:
            pass


def _own_tmp(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A temp dir of the demo's own (TMPDIR), so what it leaves is told apart from the
    files of any other demo running on the machine (a second terminal, another test run)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp, dict(os.environ, TMPDIR=str(tmp))


def _start_headless_demo(ports: dict[str, int], env: dict[str, str]) -> subprocess.Popen:
    """A 60 s headless demo on the given ports, returned once its Prometheus answers."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentconsole",
            "demo",
            "--headless",
            "--seconds",
            "60",
            "--agents",
            "5",
            *(arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while _closed(ports["prometheus"]) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if _closed(ports["prometheus"]):
        proc.kill()
        pytest.fail(f"demo did not come up: {proc.communicate(timeout=10)[1][-500:]}")
    return proc


def test_a_child_that_dies_ends_the_demo_and_says_which(tmp_path: Path):
    """Kill the simulator under a headless demo: it exits 1 naming the simulator."""
    ports = {name: free_port() for name in ("redis", "prometheus", "metrics")}
    proc = _start_headless_demo(ports, _own_tmp(tmp_path)[1])
    try:
        time.sleep(1.0)
        pids = subprocess.run(
            ["pgrep", "-f", "--", f"agentconsole simulate .*--metrics-port {ports['metrics']}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert pids, "simulator process not found"
        for pid in pids:
            os.kill(int(pid), 9)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "stopped because simulator" in err and "SIGKILL" in err
    assert all(_closed(port) for port in ports.values())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_terminal_closed_or_terminated_cleans_up(sig, tmp_path: Path):
    """SIGHUP (the terminal window closed) and SIGTERM clean up like Ctrl-C."""
    ports = {name: free_port() for name in ("redis", "prometheus", "metrics")}
    tmp, env = _own_tmp(tmp_path)
    proc = _start_headless_demo(ports, env)
    try:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err
    assert all(_closed(port) for port in ports.values())
    assert list(tmp.iterdir()) == []
