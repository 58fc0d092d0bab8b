"""Guard an OpenAI client: ``client = guard(AsyncOpenAI(...), runtime)``.

Every ``chat.completions.create``/``parse``, ``responses.create``/``parse`` and
``completions.create`` call then goes through the ``openai`` breaker (refused before the
network when it is open), is refused when the run is killed or over budget, counts as a
step, and books the usage the response reports (``prompt_tokens``/``completion_tokens``, or
``input_tokens``/``output_tokens`` for the Responses API). Works for ``OpenAI`` (sync, inside
``runtime.run_sync``) and ``AsyncOpenAI``. The client keeps its own retries
(``max_retries``): the guard sees each request once, after them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from agentconsole.integrations._clients import GuardedClient, Provider

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime

Client = TypeVar("Client")


def usage_of(response: Any) -> tuple[int, int, str] | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    model = str(getattr(response, "model", "") or "")
    if hasattr(usage, "prompt_tokens"):  # chat completions, completions
        return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0), model
    return int(usage.input_tokens or 0), int(usage.output_tokens or 0), model  # responses


def collect(event: Any, acc: list[Any]) -> None:
    """Chat chunks carry usage in the last chunk (``stream_options={"include_usage": True}``);
    Responses streams in their ``response.completed`` event."""
    found = usage_of(event) or usage_of(getattr(event, "response", None))
    if found is not None:
        acc[0], acc[1] = found[0], found[1]
        acc[2] = found[2] or acc[2]


PROVIDER = Provider(
    paths=(
        ("chat", "completions", "create"),
        ("chat", "completions", "parse"),
        ("responses", "create"),
        ("responses", "parse"),
        ("completions", "create"),
    ),
    usage_of=usage_of,
    collect=collect,
    estimate_keys=("max_completion_tokens", "max_tokens", "max_output_tokens"),
)


def guard(
    client: Client,
    runtime: AgentRuntime,
    *,
    dependency: str = "openai",
    flags: dict[str, str] | None = None,
) -> Client:
    """The same client, guarded (typed as the client, so editors keep completing it).

    ``flags={"model": "model-tier", "max_tokens": "max-tokens"}`` takes those request
    arguments from the payload each flag serves the current run (docs/flags.md).
    """
    return GuardedClient(client, runtime, dependency, PROVIDER, flags=flags)  # type: ignore[return-value]
