"""Running the console without a terminal for a while, then saving its screen as SVG.

Used by `agentconsole demo --headless` for CI, docs and bug reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App


def run_headless(
    app: App[Any],
    seconds: float,
    screenshot: str | None,
    size: tuple[int, int] = (160, 48),
    script: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """Run ``app`` headless for ``seconds`` (then ``script(pilot)``), save, and exit."""

    async def drive(pilot: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if app.return_code is not None:  # ended from elsewhere (the demo's watchdog)
                return
            await asyncio.sleep(0.1)
        if script is not None:
            await script(pilot)
        if screenshot:
            target = Path(screenshot).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=target.name, path=str(target.parent))
        app.exit()

    app.run(headless=True, size=size, auto_pilot=drive)
