"""What the OpenAI and Anthropic client wrappers share: a proxy that guards chosen methods.

The proxy forwards every attribute to the real client; only the request methods named in
``paths`` (``("chat", "completions", "create")`` ...) are wrapped in a
:class:`~agentconsole.agent.model_call.ModelCall`. ``with_options``/``copy`` return a
wrapped client too. The real client's code runs unchanged, its own retries included: the
guard sees each request once, after the client's retries (see docs/integrations.md).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentconsole.agent.flags import flagged_kwargs
from agentconsole.agent.model_call import ModelCall, active_run

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime

# (input_tokens, output_tokens, model) from a response, or None when it has no usage
UsageOf = Callable[[Any], "tuple[int, int, str] | None"]
# fold one streamed event into [input_tokens, output_tokens, model]
Collect = Callable[[Any, list[Any]], None]
CLONERS = ("with_options", "copy")


class Provider:
    """How one provider's client is guarded: which methods, how usage and estimates read."""

    def __init__(
        self,
        paths: tuple[tuple[str, ...], ...],
        usage_of: UsageOf,
        collect: Collect,
        estimate_keys: tuple[str, ...],
    ) -> None:
        self.paths = frozenset(paths)
        self.prefixes = frozenset(p[:i] for p in paths for i in range(1, len(p)))
        self.usage_of = usage_of
        self.collect = collect
        self.estimate_keys = estimate_keys

    def estimate(self, kwargs: dict[str, Any]) -> int | None:
        """The output cap the request names (the only estimate a client exposes)."""
        for key in self.estimate_keys:
            value = kwargs.get(key)
            if isinstance(value, int):
                return value
        return None


class GuardedClient:
    """A provider client (or one of its resources) whose request methods are guarded."""

    def __init__(
        self,
        target: Any,
        runtime: AgentRuntime,
        dependency: str,
        provider: Provider,
        prefix: tuple[str, ...] = (),
        is_async: bool | None = None,
        flags: dict[str, str] | None = None,
    ) -> None:
        if is_async is None:  # AsyncOpenAI, AsyncAnthropic (their methods return coroutines
            is_async = type(target).__name__.startswith("Async")  # from plain functions)
        object.__setattr__(self, "_async", is_async)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runtime", runtime)
        object.__setattr__(self, "_dependency", dependency)
        object.__setattr__(self, "_provider", provider)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_flags", flags)  # request argument -> flag (payload)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = (*self._prefix, name)
        provider = self._provider
        wrapped: Callable[..., Any] | GuardedClient
        if path in provider.paths:
            wrapped = _guard(
                value, self._runtime, self._dependency, provider, self._async, self._flags
            )
        elif path in provider.prefixes:
            wrapped = GuardedClient(
                value, self._runtime, self._dependency, provider, path, self._async, self._flags
            )
        elif name in CLONERS and not self._prefix:
            return self._cloner(value)
        else:
            return value
        object.__setattr__(self, name, wrapped)  # resources are stable: look them up once
        return wrapped

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return f"<guarded {self._dependency} {self._target!r}>"

    @property
    def unguarded(self) -> Any:
        """The real client underneath."""
        return self._target

    def _cloner(self, method: Callable[..., Any]) -> Callable[..., GuardedClient]:
        @functools.wraps(method)
        def clone(*args: Any, **kwargs: Any) -> GuardedClient:
            return GuardedClient(
                method(*args, **kwargs),
                self._runtime,
                self._dependency,
                self._provider,
                flags=self._flags,
            )

        return clone


def _guard(
    fn: Callable[..., Any],
    runtime: AgentRuntime,
    dependency: str,
    provider: Provider,
    is_async: bool,
    flags: dict[str, str] | None = None,
) -> Callable[..., Any]:
    if is_async or inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            run = active_run()
            kwargs = flagged_kwargs(run, flags, kwargs)
            call = ModelCall(
                runtime,
                run,
                dependency,
                model=str(kwargs.get("model", "")),
                estimate_tokens=provider.estimate(kwargs),
            )
            await call.begin()
            try:
                response = await fn(*args, **kwargs)
            except BaseException as exc:
                call.failed(exc)
                raise
            if kwargs.get("stream"):
                return AsyncStream(response, call, provider.collect)
            _settle(call, provider.usage_of(response))
            return response

        return guarded_async

    @functools.wraps(fn)
    def guarded_sync(*args: Any, **kwargs: Any) -> Any:
        run = active_run()
        kwargs = flagged_kwargs(run, flags, kwargs)
        call = ModelCall(
            runtime,
            run,
            dependency,
            model=str(kwargs.get("model", "")),
            estimate_tokens=provider.estimate(kwargs),
        )
        call.begin_sync()
        try:
            response = fn(*args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        if kwargs.get("stream"):
            return SyncStream(response, call, provider.collect)
        _settle(call, provider.usage_of(response))
        return response

    return guarded_sync


def _settle(call: ModelCall, usage: tuple[int, int, str] | None) -> None:
    if usage is not None:
        call.report(*usage)
    call.succeeded()


class _Stream:
    """A streamed response: usage is collected from its events; settles when it ends."""

    def __init__(self, stream: Any, call: ModelCall, collect: Collect) -> None:
        self._stream = stream
        self._call = call
        self._collect = collect
        self._acc: list[Any] = [0, 0, call.model]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _seen(self, event: Any) -> Any:
        self._collect(event, self._acc)
        return event

    def _end(self, exc: BaseException | None) -> None:
        acc = self._acc
        if acc[0] or acc[1]:
            self._call.report(acc[0], acc[1], acc[2])
        if exc is None:
            self._call.succeeded()
        else:
            self._call.failed(exc)


class AsyncStream(_Stream):
    def __aiter__(self) -> AsyncStream:
        self._iter = self._stream.__aiter__()
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self._iter.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        return self._seen(event)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._end(exc[1])
        close = getattr(self._stream, "close", None)
        if close is not None:
            await close()


class SyncStream(_Stream):
    def __iter__(self) -> SyncStream:
        self._iter = iter(self._stream)
        return self

    def __next__(self) -> Any:
        try:
            event = next(self._iter)
        except StopIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        return self._seen(event)

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end(exc[1])
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
