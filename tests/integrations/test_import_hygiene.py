"""Importing the SDK never imports a framework (startup stays fast); each adapter is lazy."""

import subprocess
import sys

FRAMEWORKS = ("openai", "anthropic", "agents", "langchain_core", "langgraph", "pydantic_ai")


def test_the_sdk_imports_no_framework():
    code = (
        "import sys; import agentconsole.agent as a; a.AgentRuntime; a.SyncRun;"
        "import agentconsole.agent.model_call, agentconsole.integrations;"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
