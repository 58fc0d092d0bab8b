"""Fixtures for the framework integrations: runtimes, the CLI, a recording fake provider."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.agent.conftest import make_runtime, runtime  # noqa: F401 (fixtures)
from tests.cli.conftest import acli, cli_env  # noqa: F401 (fixtures)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


async def booked_tokens(plane, user: str, expected: int) -> dict[str, Any]:
    """The user's day usage once the background bookings reached ``expected`` tokens."""
    usage: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        usage = (await plane.budgets.usage()).get(user, {})
        if usage.get("tokens", 0) >= expected:
            return usage
        await asyncio.sleep(0.02)
    raise AssertionError(f"usage of {user} never reached {expected}: {usage}")


class FakeProvider:
    """An HTTP handler for httpx/httpx2 MockTransport: scripted replies, every request kept."""

    def __init__(self, reply: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []

    def handler(self, module: Any) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            body = json.loads(request.content or b"{}")
            self.requests.append(body)
            status, doc = self.reply(body)
            headers = {"retry-after-ms": "1"} if status >= 500 else {}
            return module.Response(status, json=doc, headers=headers)

        return handle


@pytest.fixture
async def fast_runtime(make_runtime):  # noqa: F811
    """A runtime whose reports (breaker stats, offline usage) go out quickly."""
    return await make_runtime(report_interval=0.05)
