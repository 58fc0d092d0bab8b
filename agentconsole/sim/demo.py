"""`agentconsole demo`: the whole system on one machine, as child processes, cleaned up after.

Starts redis-server, prometheus (with the shipped recording and alert rules, 1 s scrape and
evaluation), Alertmanager when installed, the simulator with the scripted story, and one
rollout controller with two guarded plans (sim/rollout_demo.py), each on a free loopback
port with a temporary directory. Whatever ends the demo (quit, Ctrl-C, a
crash of the console, a child that dies) stops every child and removes the directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentconsole.sim import rollout_demo
from agentconsole.sim.children import die_with_parent

REQUIRED = {
    "redis-server": "redis-server (Debian/Ubuntu: apt-get install redis-server)",
    "prometheus": "prometheus (Debian/Ubuntu: apt-get install prometheus)",
}
OPTIONAL = {"prometheus-alertmanager": "alertmanager", "alertmanager": "alertmanager"}


class DemoError(Exception):
    """A demo that cannot start, phrased for the newcomer: what is missing, what to do."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path

    def exit_reason(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            reason = f"killed by signal {signal.Signals(-code).name}"
        else:
            reason = f"exited with code {code}"
        tail = ""
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").strip().splitlines()
            tail = lines[-1][:300] if lines else ""
        return f"{self.name} {reason}" + (f": {tail}" if tail else "")


@dataclass
class DemoStack:
    """Where the running demo's parts listen; the console is pointed at these."""

    workdir: Path
    redis_port: int = 0
    prometheus_port: int = 0
    alertmanager_port: int | None = None
    metrics_port: int = 0
    children: list[Child] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str | None:
        if self.alertmanager_port is None:
            return None
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def dead_child(self) -> Child | None:
        for child in self.children:
            if child.proc.poll() is not None:
                return child
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_port_free(port: int, what: str) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} for {what} is already taken on 127.0.0.1: "
                f"choose another or stop what uses it"
            ) from None


def find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DemoError(f"{name} is not installed: install {REQUIRED.get(name, name)}")
    return path


def rules_dir() -> Path:
    """deploy/prometheus of this checkout (the demo runs from a clone)."""
    here = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
    if not (here / "alerts.yml").is_file():
        raise DemoError(f"cannot find the shipped Prometheus rules in {here}")
    return here


def _wait(check: Callable[[], bool], child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise DemoError(child.exit_reason())
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise DemoError(f"{child.name} did not become ready within {timeout:.0f} s (log: {child.log})")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=0.5) as response:
        return bool(response.status == 200)


def _spawn(stack: DemoStack, name: str, args: list[str], env: dict[str, str] | None = None):
    log = stack.workdir / f"{name}.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        args,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # our Ctrl-C handling stops it, not the terminal's signal
        preexec_fn=die_with_parent,  # and the kernel stops it if we are killed outright
    )
    handle.close()
    child = Child(name, proc, log)
    stack.children.append(child)
    return child


def _prometheus_config(stack: DemoStack) -> Path:
    rules = rules_dir()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(rules.glob("*.yml")) if p.name != "prometheus.yml"],
        "scrape_configs": [
            {
                "job_name": "agents",
                "static_configs": [{"targets": [f"127.0.0.1:{stack.metrics_port}"]}],
            }
        ],
    }
    if stack.alertmanager_port:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{stack.alertmanager_port}"]}]}
            ]
        }
    path = stack.workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start_redis(stack: DemoStack) -> None:
    binary = find_binary("redis-server")
    child = _spawn(
        stack,
        "redis-server",
        [
            binary,
            "--port",
            str(stack.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(stack.workdir),
        ],
    )
    _wait(lambda: _port_open(stack.redis_port), child, 10)


def _start_alertmanager(stack: DemoStack) -> None:
    binary = next((shutil.which(n) for n in OPTIONAL if shutil.which(n)), None)
    if binary is None:
        stack.alertmanager_port = None
        return
    config = stack.workdir / "alertmanager.yml"
    config.write_text(
        yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    )
    data = stack.workdir / "alertmanager"
    data.mkdir()
    child = _spawn(
        stack,
        "alertmanager",
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{stack.alertmanager_port}",
            "--cluster.listen-address=",
        ],
    )
    _wait(lambda: _http_ok(f"{stack.alertmanager_url}/-/ready"), child, 20)


def _start_prometheus(stack: DemoStack) -> None:
    binary = find_binary("prometheus")
    config = _prometheus_config(stack)
    data = stack.workdir / "prometheus-data"
    data.mkdir()
    child = _spawn(
        stack,
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{stack.prometheus_port}",
            "--storage.tsdb.retention.time=2h",
            "--log.level=warn",
        ],
    )
    _wait(lambda: _http_ok(f"{stack.prometheus_url}/-/ready"), child, 30)


def _start_simulator(stack: DemoStack, agents: int, scenario: str) -> None:
    env = dict(os.environ)
    env.update(
        AGENTCONSOLE_REDIS_URL=stack.redis_url,
        AGENTCONSOLE_REDIS_PREFIX="ac",
        AGENTCONSOLE_CONFIG=str(stack.workdir / "demo.yaml"),
    )
    child = _spawn(
        stack,
        "simulator",
        [
            sys.executable,
            "-m",
            "agentconsole",
            "simulate",
            "--agents",
            str(agents),
            "--scenario",
            scenario,
            "--metrics-port",
            str(stack.metrics_port),
        ],
        env=env,
    )
    _wait(lambda: _port_open(stack.metrics_port), child, 30)


def _seed_flags(stack: DemoStack, log: Callable[[str], None]) -> None:
    from agentconsole.config import load_settings
    from agentconsole.sim.demo_flags import seed_sync

    created = seed_sync(load_settings(str(stack.workdir / "demo.yaml")))
    if created:
        log(f"created demo flag(s): {', '.join(created)}")


def _start_rollouts(stack: DemoStack, hold: float | None) -> None:
    """The demo's two guarded plans, and one rollout controller judging them."""
    from agentconsole.config import load_settings

    rollout_demo.seed(load_settings(str(stack.workdir / "demo.yaml")), hold)
    env = dict(os.environ)
    env["AGENTCONSOLE_CONFIG"] = str(stack.workdir / "demo.yaml")
    _spawn(
        stack, "rollout-controller", [sys.executable, "-m", "agentconsole", "rollouts", "run"], env
    )


def welcome(stack: DemoStack, agents: int, scenario: str) -> str:
    """The demo's first screen: what is real, what is simulated, what to try."""
    from agentconsole.sim import scenarios

    if scenario == "story":
        story = " → ".join(f"{name} {fmt_seconds(sec)}" for name, sec in scenarios.STORY)
        what = f"The story repeats: {story}."
    else:
        what = f"Scenario: {scenario} ({scenarios.get(scenario).description})."
    alertmanager = " and Alertmanager" if stack.alertmanager_port else ""
    return (
        f"Real: redis-server, Prometheus{alertmanager}, the shipped rules and alerts. "
        f"Simulated: {agents} agents of 5 tenants on the SDK, a fake LLM and a fake "
        "search tool; a rollout controller moves the planner-v2 and summary-v3 canaries."
        "\n\n"
        f"{what}\n\n"
        f"A second terminal's CLI: {attach_command()}\n\n"
        "Try: Enter on an alert opens its runbook at the fix (a runs it, v verifies); "
        "k on TOP RUNAWAY AGENTS kills one; 2 Agents, d drains a tenant, z pauses a run, r "
        "resumes it; 3 Flags, o sets a rollout; 4 Breakers, "
        "t trips one; 5 Audit shows every change; $ Spend, c caps the tenant burning most; "
        "? lists every key."
    )


def fmt_seconds(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def attach_file() -> Path:
    """Where the running demo says how to reach it: a fixed name per user, so a second
    terminal finds it without copying a temporary path."""
    return Path(tempfile.gettempdir()) / f"agentconsole-demo-{os.getuid()}.env"


def attach_command() -> str:
    return f". {attach_file()} && agentconsole status"


def write_attach_file(stack: DemoStack) -> Path:
    """``. <file>`` points a second terminal's CLI at this demo (its config, this venv)."""
    bin_dir = Path(sys.executable).parent
    path = attach_file()
    path.write_text(
        "# agentconsole demo: source this file in another terminal, then use the CLI\n"
        "# (agentconsole status, agents list, flags list...). Removed when the demo stops.\n"
        f"export AGENTCONSOLE_CONFIG={stack.workdir / 'demo.yaml'}\n"
        f'export PATH="{bin_dir}:$PATH"\n'
    )
    return path


def remove_attach_file(stack: DemoStack) -> None:
    """Only our own: a second demo started meanwhile owns the file now."""
    path = attach_file()
    with contextlib.suppress(OSError):
        if str(stack.workdir / "demo.yaml") in path.read_text():
            path.unlink()


def write_demo_config(stack: DemoStack) -> Path:
    """The config the console and simulator share: ports, prices, a visible demo badge."""
    config = {
        "environment": {"name": "demo", "color": "magenta"},
        "redis": {"url": stack.redis_url, "prefix": "ac"},
        "prometheus": {"url": stack.prometheus_url, "timeout": 3},
        "alertmanager": {"url": stack.alertmanager_url},
        "operator": {"name": "demo-operator", "role": "admin"},
        "ui": {"refresh_seconds": 2},
        # spend caps: steady traffic spends ~$200/h, the cost explosion
        # ~$5,000/h; $500/h is the fleet's daily budget spread over the day
        "budgets": {"fleet_daily_cost_usd": 12000, "tenant_daily_cost_usd": 4000},
        "rollouts": dict(rollout_demo.CONTROLLER),
        "runbooks_dir": str(Path(__file__).resolve().parents[2] / "runbooks"),
        "prices": {
            "gpt-4o": {"input_per_1k": 0.0025, "output_per_1k": 0.01},
            "gpt-4o-mini": {"input_per_1k": 0.00015, "output_per_1k": 0.0006},
            "claude-sonnet": {"input_per_1k": 0.003, "output_per_1k": 0.015},
        },
    }
    path = stack.workdir / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def demo_stack(
    agents: int = 200,
    scenario: str = "story",
    ports: dict[str, int] | None = None,
    log: Callable[[str], None] = print,
    rollout_hold: float | None = None,
) -> Iterator[DemoStack]:
    """Start everything; on leaving (normally or by exception), stop it all and clean up."""
    for name in REQUIRED:
        find_binary(name)
    ports = ports or {}
    workdir = Path(tempfile.mkdtemp(prefix="agentconsole-demo-"))
    stack = DemoStack(workdir=workdir)
    try:
        for key, what in (
            ("redis", "redis-server"),
            ("prometheus", "prometheus"),
            ("metrics", "the simulator's /metrics"),
            ("alertmanager", "alertmanager"),
        ):
            port = ports.get(key)
            if port:
                check_port_free(port, what)
            setattr(stack, f"{key}_port", port or free_port())
        log(f"starting redis-server on 127.0.0.1:{stack.redis_port}")
        _start_redis(stack)
        _start_alertmanager(stack)
        if stack.alertmanager_port:
            log(f"started alertmanager on 127.0.0.1:{stack.alertmanager_port}")
        write_demo_config(stack)
        write_attach_file(stack)
        _seed_flags(stack, log)
        log(
            f"starting the simulator ({agents} agents, scenario {scenario}) "
            f"with /metrics on 127.0.0.1:{stack.metrics_port}"
        )
        _start_simulator(stack, agents, scenario)
        log(f"starting prometheus on 127.0.0.1:{stack.prometheus_port}")
        _start_prometheus(stack)
        log("starting the rollout controller (planner-v2 and summary-v3 canaries)")
        _start_rollouts(stack, rollout_hold)
        yield stack
    finally:
        stop_all(stack)
        remove_attach_file(stack)
        shutil.rmtree(workdir, ignore_errors=True)


def stop_all(stack: DemoStack) -> None:
    """SIGTERM every child (last started first), then SIGKILL what is still there."""
    for child in reversed(stack.children):
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.terminate()
    deadline = time.monotonic() + 5
    for child in reversed(stack.children):
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait(5)
