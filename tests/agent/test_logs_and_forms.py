import io
import json
import logging
import urllib.request

import pytest

from agentconsole.agent import BreakerConfig, BreakerOpen, DependencyError
from agentconsole.agent.logs import configure_json_logging, logger
from agentconsole.agent.retry import NO_RETRY
from tests.fixtures.procs import free_port


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    handler = configure_json_logging(logging.INFO, stream)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


async def test_json_logs_carry_trace_ids_hash_users_and_never_prompts(json_logs, make_runtime):
    rt = await make_runtime(hash_user_ids=True, hash_salt="s")
    secret_prompt = "PROMPT: the customer's password is hunter2"

    async def llm(prompt: str) -> str:
        return "COMPLETION TEXT"

    async with rt.run(
        task="triage", user="alice@example.com", tenant="acme", trace_id="t-1"
    ) as run:
        await run.call("openai", llm, secret_prompt)
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["agent.started", "tool.call", "agent.completed"]
    assert all(line["trace_id"] == "t-1" for line in lines)
    assert lines[0]["user"].startswith("h:") and "alice" not in json_logs.getvalue()
    assert "hunter2" not in json_logs.getvalue() and "COMPLETION" not in json_logs.getvalue()
    done = lines[-1]
    assert done["success"] is True and done["steps"] == 0 and done["outcome"] == "success"


async def test_decorator_and_context_manager_forms(make_runtime):
    rt = await make_runtime(breaker=BreakerConfig(window=4, min_calls=2), retry=NO_RETRY)

    @rt.guarded("search")
    async def search(q: str) -> str:
        return q.upper()

    assert await search("outside a run") == "OUTSIDE A RUN"
    async with rt.run(task="t") as run:
        assert await search("inside") == "INSIDE"
        for _ in range(2):
            with pytest.raises(DependencyError):
                async with run.guard("vector-db"):
                    raise DependencyError("unavailable")
        with pytest.raises(BreakerOpen):
            async with run.guard("vector-db"):
                pytest.fail("the block must not run while the breaker is open")


async def test_serve_metrics(make_runtime):
    rt = await make_runtime()
    port = free_port()
    rt.serve_metrics(port)
    async with rt.run(task="t"):
        pass
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    assert 'agent_runs_total{outcome="success"} 1.0' in body
    assert 'agent_kills_total{scope="all"} 0.0' in body
    assert "agent_control_version" in body
