"""A Redis client on which one key of the wrong type is a reported problem, not an outage.

Why: a string where an agent's hash belongs (a buggy writer, a hand-typed ``redis-cli``
command) made every listing that touched it fail with ``WRONGTYPE``, and the console read
the failure as "Redis ✖ stale" while Redis was answering. Here a *read* of a wrong-typed key
answers what an absent key answers (nothing), and the key is recorded in :attr:`problems`
with a line naming it; ``agentconsole status`` and the console's problems line show them.
In a pipeline a write to such a key is skipped the same way (the other commands ran
anyway, Redis never undoes them); a single write still fails loudly (``CorruptValue``).
Everything that reads Redis goes through this client, so no reader has to remember.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

MAX_PROBLEMS = 100  # keys remembered; a flood of bad keys must not grow without bound

# What an absent key answers, per read command (raw, before redis-py's callbacks).
_EMPTY: dict[str, Any] = {
    "GET": None,
    "HGET": None,
    "ZSCORE": None,
    "HGETALL": {},  # RESP3 answers a map (no callback in this redis-py)
    "HKEYS": [],
    "HVALS": [],
    "ZRANGE": [],
    "ZREVRANGE": [],
    "ZRANGEBYSCORE": [],
    "ZREVRANGEBYSCORE": [],
    "XRANGE": [],
    "XREVRANGE": [],
    "SMEMBERS": [],
    "HLEN": 0,
    "ZCARD": 0,
    "ZCOUNT": 0,
    "ZINTER": [],  # an intersection with a key that is no sorted set: nothing in common
    "XLEN": 0,
    "SCARD": 0,
    "STRLEN": 0,
    "HEXISTS": 0,
    "HSTRLEN": 0,
}
_PER_ARGUMENT = {"HMGET": 2, "ZMSCORE": 2}  # one None per field after the key
_PIPELINE_WRITES = frozenset(
    {"HSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "ZADD", "ZREM", "ZINCRBY", "EXPIRE", "PEXPIRE"}
)


def _wrong_type(exc: BaseException) -> bool:
    text = str(exc.args[-1] if exc.args else exc)
    return "WRONGTYPE" in text


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Problems:
    """Keys found holding the wrong type, with when they were last seen."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, float]] = {}

    def record(self, command: str, key: str) -> None:
        message = (
            f"{key}: holds the wrong type of value for {command} (not what this release "
            f"writes): skipped; inspect it with redis-cli TYPE"
        )
        self.seen.pop(key, None)
        self.seen[key] = (message, time.monotonic())
        while len(self.seen) > MAX_PROBLEMS:
            self.seen.pop(next(iter(self.seen)))

    def keys_since(self, moment: float) -> set[str]:
        return {key for key, (_, at) in self.seen.items() if at >= moment}

    def since(self, moment: float = 0.0) -> list[str]:
        """Problem lines seen at or after ``moment`` (``time.monotonic()``)."""
        return [message for message, at in self.seen.values() if at >= moment]


def _key_named(args: tuple[Any, ...]) -> str:
    """The key a command's problem line names: the first argument, or for a command that
    counts its keys first (ZINTER), those keys (Redis does not say which one it was)."""
    if _text(args[0]).upper() == "ZINTER" and _text(args[1]).isdigit():
        return " or ".join(_text(k) for k in args[2 : 2 + int(_text(args[1]))])
    return _text(args[1])


def _empty_for(args: tuple[Any, ...], *, writes: bool) -> tuple[bool, Any]:
    name = _text(args[0]).upper()
    if name in _EMPTY:
        value = _EMPTY[name]
        return True, type(value)() if isinstance(value, list | dict) else value
    if name in _PER_ARGUMENT:
        return True, [None] * max(0, len(args) - _PER_ARGUMENT[name])
    if writes and name in _PIPELINE_WRITES:
        return True, None
    return False, None


class TolerantPipeline(Pipeline):
    problems: Problems

    def raise_first_error(self, commands: Any, response: Any) -> None:
        for i, item in enumerate(response):
            if isinstance(item, ResponseError) and _wrong_type(item):
                args = commands[i][0]
                known, empty = _empty_for(args, writes=True)
                if known and len(args) > 1:
                    self.problems.record(_text(args[0]).upper(), _key_named(args))
                    response[i] = empty
        super().raise_first_error(commands, response)


class TolerantRedis(Redis):
    """``redis.asyncio.Redis`` that skips and reports wrong-typed keys on reads."""

    problems: Problems

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems = Problems()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except ResponseError as exc:
            if not _wrong_type(exc) or len(args) < 2:
                raise
            known, empty = _empty_for(args, writes=False)
            if not known:
                raise
            self.problems.record(_text(args[0]).upper(), _key_named(args))
            # redis-py's callback turns the raw empty answer into the usual Python value
            callback = self.response_callbacks.get(args[0]) or self.response_callbacks.get(
                _text(args[0]).upper()
            )
            return callback(empty, **_callback_options(options)) if callback else empty

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = TolerantPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.problems = self.problems
        return pipe


def _callback_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "keys"}


def problem_keys(client: Any, moment: float) -> set[str]:
    found = getattr(client, "problems", None)
    return found.keys_since(moment) if isinstance(found, Problems) else set()


def problems_of(client: Any, moment: float = 0.0) -> list[str]:
    """The wrong-typed keys a client met (none for clients that are not tolerant)."""
    found = getattr(client, "problems", None)
    return found.since(moment) if isinstance(found, Problems) else []
