"""Quitting never waits for a hung Prometheus: the query threads do not hold up the exit."""

import subprocess
import sys
import textwrap

from tests.fixtures.prometheus import hanging_socket

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from agentconsole.config import Settings
    from agentconsole.metrics.service import MetricsService

    settings = Settings()
    settings.prometheus.url = sys.argv[1]
    settings.prometheus.timeout = 120  # the hung queries would wait this long

    async def main():
        svc = MetricsService(settings)
        fetch = asyncio.ensure_future(svc.fetch_panels())
        await asyncio.sleep(0.5)  # every panel's query is now in flight, hanging
        fetch.cancel()
        await svc.close()

    asyncio.run(main())
    print("closed", flush=True)
    """
)


def test_a_process_with_hung_queries_exits_at_once():
    with hanging_socket() as url:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, url], capture_output=True, text=True, timeout=60
        )
    # it ended well before its 120 s query timeout: the hung threads were left behind
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "closed"
