"""Adapters that make agents written on popular frameworks obey the console.

One module per framework or provider client, each an optional extra
(``pip install 'agentconsole[openai-agents]'``, ``[langchain]``, ``[pydantic-ai]``,
``[openai]``, ``[anthropic]``) and each a thin adapter onto ``agentconsole.agent`` (the
guard, the budgets, the kill checks all live there; see ``agent/model_call.py``). Nothing
here is imported by ``agentconsole.agent``: importing the SDK never imports a framework.
See docs/integrations.md.
"""
