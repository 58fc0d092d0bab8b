"""Running the real CLI in-process against the test Redis, configured only by environment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli_env(settings, monkeypatch, tmp_path) -> dict[str, str]:
    """Environment of an operator alice (admin) on the test Redis, with no config file."""
    env = {
        "AGENTCONSOLE_REDIS_URL": settings.redis.url,
        "AGENTCONSOLE_REDIS_PREFIX": settings.redis.prefix,
        "AGENTCONSOLE_OPERATOR": "alice",
        "AGENTCONSOLE_ROLE": "admin",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return env


def _run(argv: list[str], capsys) -> Result:
    from agentconsole.cli.main import main

    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(cli_env, capsys, monkeypatch) -> Callable[..., Result]:
    """cli("flags", "list", role="viewer") -> Result; synchronous, for sync tests."""

    def run(*argv: str, role: str = "admin") -> Result:
        monkeypatch.setenv("AGENTCONSOLE_ROLE", role)
        return _run(list(argv), capsys)

    return run


@pytest.fixture
def acli(cli_env, capsys, monkeypatch):
    """The CLI from an async test: runs in a thread so the test's own loop keeps going
    (for example to play an agent that acknowledges a kill)."""

    async def run(*argv: str, role: str = "admin") -> Result:
        monkeypatch.setenv("AGENTCONSOLE_ROLE", role)
        return await asyncio.to_thread(_run, list(argv), capsys)

    return run


def assert_one_line(result: Result) -> None:
    """Failures are one line on stderr, never a traceback."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err and lines[0].startswith("agentconsole: ")
