"""Guard an Anthropic client: ``client = guard(AsyncAnthropic(...), runtime)``.

Every ``messages.create``/``parse`` call then goes through the ``anthropic`` breaker
(refused before the network when it is open), is refused when the run is killed or over
budget (``max_tokens`` is checked against the per-request limit first), counts as a step,
and books the usage the response reports (``input_tokens`` plus cache reads and writes,
``output_tokens``). ``stream=True`` is followed to its end (``message_start`` and
``message_delta`` carry the usage). Works for ``Anthropic`` (sync, inside
``runtime.run_sync``) and ``AsyncAnthropic``. The client keeps its own retries
(``max_retries``): the guard sees each request once, after them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from agentconsole.integrations._clients import GuardedClient, Provider

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime

Client = TypeVar("Client")


def _input(usage: Any) -> int:
    return sum(
        int(getattr(usage, name, 0) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def usage_of(response: Any) -> tuple[int, int, str] | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return _input(usage), int(usage.output_tokens or 0), str(getattr(response, "model", "") or "")


def collect(event: Any, acc: list[Any]) -> None:
    kind = getattr(event, "type", "")
    if kind == "message_start":
        message = event.message
        acc[0], acc[1] = _input(message.usage), int(message.usage.output_tokens or 0)
        acc[2] = str(message.model or acc[2])
    elif kind == "message_delta" and getattr(event, "usage", None) is not None:
        acc[1] = int(event.usage.output_tokens or 0)  # cumulative
        acc[0] = max(acc[0], _input(event.usage))


PROVIDER = Provider(
    paths=(("messages", "create"), ("messages", "parse")),
    usage_of=usage_of,
    collect=collect,
    estimate_keys=("max_tokens",),
)


def guard(
    client: Client,
    runtime: AgentRuntime,
    *,
    dependency: str = "anthropic",
    flags: dict[str, str] | None = None,
) -> Client:
    """The same client, guarded (typed as the client, so editors keep completing it).

    ``flags={"model": "model-tier", "max_tokens": "max-tokens"}`` takes those request
    arguments from the payload each flag serves the current run (docs/flags.md).
    """
    return GuardedClient(client, runtime, dependency, PROVIDER, flags=flags)  # type: ignore[return-value]
