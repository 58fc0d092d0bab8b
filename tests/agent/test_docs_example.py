"""The quick-start example in docs/agent-sdk.md runs as written."""

import re
import sys
from pathlib import Path

from tests.fixtures.examples import example_env, run_example, write_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent-sdk.md"


def quick_start() -> str:
    text = DOC.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quick_start_runs_as_written(settings, tmp_path):
    out = run_example(quick_start(), settings, tmp_path, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done: success 3 steps"


async def test_quick_start_obeys_a_kill_in_force(plane, settings, tmp_path):
    import asyncio

    await plane.kills.kill(tenant="acme", reason="incident 7")
    script = write_example(quick_start(), tmp_path)
    env = example_env(settings, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert stdout.decode().strip() == "stopped by alice: incident 7"
