"""Prometheus killed, hanging, and slow while the console runs: keys answer, panels say why,
and everything recovers by itself when Prometheus is back.

Key-press latency is *measured* in bench/bench_console_faults.py; here the bounds are
deliberately generous (2 s) because this machine is shared.
"""

from __future__ import annotations

import time

from tests.faults.keys import keys_answer
from tests.tui.conftest import make_app, wait_until

SIZE = (160, 50)
PANEL_TIMEOUT = 1.5


def overview_app(settings, url: str):
    """The console on the Overview, its panels reading the Prometheus at ``url``."""
    settings.prometheus.url = url
    settings.prometheus.timeout = PANEL_TIMEOUT
    settings.ui.refresh_seconds = 0.5
    return make_app(settings, start_view="overview", clock=time.time, metrics=True)


def card_texts(app) -> list[str]:
    return [str(c.render()) for c in app.view("overview").query(".panel")]


def panels_say(app, kind: str) -> bool:
    texts = card_texts(app)
    return bool(texts) and all(kind in t for t in texts)


def panels_healthy(app) -> bool:
    texts = card_texts(app)
    bad = ("unreachable", "timeout", "error")
    return bool(texts) and not any(word in t.split("\n")[-1] for t in texts for word in bad)


async def _healthy_overview(pilot, app) -> None:
    await app.wait_for_paint("overview", timeout=15)
    await wait_until(pilot, lambda: panels_healthy(app), timeout=15, what="panel values")
    assert app.prometheus_health.ok


async def _recovered(pilot, app, timeout: float) -> None:
    await wait_until(pilot, lambda: app.prometheus_health.ok is True, timeout, "Prometheus back")
    await wait_until(pilot, lambda: panels_healthy(app), timeout=timeout, what="panels back")


async def test_prometheus_killed_then_restarted(settings, running_prometheus):
    app = overview_app(settings, running_prometheus.url)
    async with app.run_test(size=SIZE) as pilot:
        await _healthy_overview(pilot, app)
        running_prometheus.kill()
        await wait_until(pilot, lambda: app.prometheus_health.ok is False, what="Prometheus down")
        await wait_until(pilot, lambda: panels_say(app, "unreachable"), what="unreachable")
        assert any("Prometheus unreachable" in t for t in app.toasts)
        await keys_answer(pilot, app)
        # the last good value stays on the card, marked as such
        assert any("last value" in t for t in card_texts(app))
        running_prometheus.start()
        await _recovered(pilot, app, 20)
        assert any("Prometheus is back" in t for t in app.toasts)
        assert sum("Prometheus unreachable" in t for t in app.toasts) == 1  # told once
        assert app.redis_health.ok  # Redis was never disturbed


async def test_prometheus_hangs_then_answers(settings, stalling_proxy):
    app = overview_app(settings, stalling_proxy.url)
    async with app.run_test(size=SIZE) as pilot:
        await _healthy_overview(pilot, app)
        stalling_proxy.set("hang")
        await wait_until(pilot, lambda: panels_say(app, "timeout"), timeout=10, what="timeout")
        assert app.prometheus_health.ok is False
        await keys_answer(pilot, app)
        stalling_proxy.set("pass")
        await _recovered(pilot, app, 10)


async def test_prometheus_answers_after_the_timeout(settings, stalling_proxy):
    """Answers arrive, but after the panel timeout: a timeout, never a late overwrite."""
    app = overview_app(settings, stalling_proxy.url)
    async with app.run_test(size=SIZE) as pilot:
        await _healthy_overview(pilot, app)
        stalling_proxy.set("slow", delay=PANEL_TIMEOUT + 1.0)
        await wait_until(pilot, lambda: panels_say(app, "timeout"), timeout=10, what="timeout")
        await keys_answer(pilot, app)
        # late answers did reach the client's side of the socket, and changed nothing
        await wait_until(pilot, lambda: stalling_proxy.answered_late > 0, what="late answers")
        assert panels_say(app, "timeout")
        stalling_proxy.set("pass")
        await _recovered(pilot, app, 10)
