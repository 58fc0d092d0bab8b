"""Dead or hanging servers: stale and greyed, keys still answer, recovery by itself."""

import contextlib
import re
import time
from collections.abc import Iterator

import pytest

from agentconsole.config import Settings
from tests.fixtures.prometheus import hanging_socket
from tests.fixtures.redis import start_redis
from tests.tui.conftest import make_app, wait_until

SIZE = (140, 40)


async def test_redis_dies_and_comes_back(redis_prefix):
    gen = start_redis()
    server = next(gen)
    try:
        settings = Settings()
        settings.redis.url = server.url
        settings.redis.prefix = redis_prefix
        settings.redis.connect_timeout = 0.5
        settings.operator.name, settings.operator.role = "alice", "admin"
        settings.ui.refresh_seconds = 0.2
        app = make_app(settings, start_view="agents", clock=time.time)
        async with app.run_test(size=SIZE) as pilot:
            await app.wait_for_paint("agents")
            assert app.redis_health.ok
            server.kill()
            await wait_until(pilot, lambda: app.redis_health.ok is False, what="stale")
            view = app.view("agents")
            assert view.has_class("stale")
            header = str(app.query_one("#header").render())
            assert "Redis ✖ stale since" in header
            # every key still answers while Redis is gone
            await pilot.press("3")
            await wait_until(pilot, lambda: app.current == "flags", timeout=30, what="flags")
            await pilot.press("2")
            assert any("Redis unreachable" in t for t in app.toasts)
            server.start()
            await wait_until(pilot, lambda: app.redis_health.ok is True, timeout=15, what="back")
            await wait_until(pilot, lambda: not view.has_class("stale"))
            assert any("Redis is back" in t for t in app.toasts)
            # told once, not every poll
            assert sum("Redis unreachable" in t for t in app.toasts) == 1
    finally:
        server.kill()
        gen.close()


@contextlib.contextmanager
def _not_redis() -> Iterator[str]:
    """An HTTP server where Redis was expected (a wrong port in redis.url)."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _nobody() -> Iterator[str]:
    from tests.fixtures.procs import free_port

    yield f"redis://127.0.0.1:{free_port()}/0"


@contextlib.contextmanager
def _silent() -> Iterator[str]:
    with hanging_socket() as url:  # accepts, never answers: the startup timeout
        yield url.replace("http://", "redis://") + "/0"


@pytest.mark.parametrize("server", [_nobody, _silent, _not_redis], ids=lambda f: f.__name__)
async def test_redis_down_at_start_says_what_to_do(server, redis_prefix):
    """There never were values to keep: one clean line (no "RuntimeError:" or other class
    name) that says where the address is set, and a header that claims nothing stale."""
    with server() as url:
        settings = Settings()
        settings.redis.url = url
        settings.redis.prefix = redis_prefix
        settings.redis.connect_timeout = settings.redis.socket_timeout = 0.5
        settings.operator.name, settings.operator.role = "alice", "admin"
        app = make_app(settings, start_view="agents", clock=time.time)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.redis_health.ok is False, timeout=30, what="down")
            told = [t for t in app.toasts if "Redis unreachable" in t]
            assert told, app.toasts
            assert "nothing to show yet; check redis.url ($AGENTCONSOLE_REDIS_URL)" in told[0]
            assert not re.match(r"\w+(Error|Exception|Response):", told[0]), told[0]
            assert "\n" not in told[0]
            assert not any("last values" in t for t in app.toasts)
            header = str(app.query_one("#header").render())
            assert "Redis ✖ unreachable (retry" in header and "stale since" not in header


async def test_hanging_prometheus_greys_panels_and_keys_answer(settings):
    with hanging_socket() as url:
        settings.prometheus.url = url
        settings.prometheus.timeout = 4.0
        app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")  # while the first overview poll hangs for 4 s
            await wait_until(pilot, lambda: app.current == "agents", timeout=30, what="agents")
            await pilot.press("1")
            await app.wait_for_paint("overview", timeout=15)
            await wait_until(pilot, lambda: app.prometheus_health.ok is False)
            cards = app.view("overview").query(".panel")
            assert cards and all("timeout" in str(c.render()) for c in cards)
            # never reached: no "panels greyed" (there was nothing), where the address is set
            told = [t for t in app.toasts if t.startswith("Prometheus unreachable")]
            assert told == [
                "Prometheus unreachable — no panel values yet; check prometheus.url "
                "($AGENTCONSOLE_PROMETHEUS_URL), retrying"
            ]
            assert "Prometheus ✖ unreachable (retry" in str(app.query_one("#header").render())


async def test_overview_with_a_real_prometheus(settings, prometheus):
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.wait_for_paint("overview", timeout=15)

        def breached() -> bool:
            texts = [str(c.render()) for c in app.view("overview").query(".panel")]
            return any("● breach" in t for t in texts) and any("● ok" in t for t in texts)

        await wait_until(pilot, breached, timeout=15, what="panel values")
        assert app.prometheus_health.ok
        texts = {str(c.render()).split("  ●")[0] for c in app.view("overview").query(".panel")}
        assert "Call errors" in texts
