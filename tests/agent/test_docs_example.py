"""The quick-start example in docs/agent-sdk.md runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent-sdk.md"


def quick_start() -> str:
    text = DOC.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quick_start_runs_as_written(settings, tmp_path):
    script = tmp_path / "agent.py"
    script.write_text(quick_start())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCONSOLE_")}
    env.update(
        AGENTCONSOLE_REDIS_URL=settings.redis.url,
        AGENTCONSOLE_REDIS_PREFIX=settings.redis.prefix,
        XDG_CONFIG_HOME=str(tmp_path),
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done: success 3 steps"


async def test_quick_start_obeys_a_kill_in_force(plane, settings, tmp_path):
    import asyncio

    await plane.kills.kill(tenant="acme", reason="incident 7")
    script = tmp_path / "agent.py"
    script.write_text(quick_start())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCONSOLE_")}
    env.update(
        AGENTCONSOLE_REDIS_URL=settings.redis.url,
        AGENTCONSOLE_REDIS_PREFIX=settings.redis.prefix,
        XDG_CONFIG_HOME=str(tmp_path),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert stdout.decode().strip() == "stopped by alice: incident 7"
