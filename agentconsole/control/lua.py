"""Loads the Lua scripts shipped beside this module, registered once per client."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from agentconsole.control.connection import RedisClient


@cache
def source(name: str) -> str:
    text = resources.files("agentconsole.control").joinpath("lua", f"{name}.lua").read_text()
    return text.replace("--[[RULES]]", _rules()) if "--[[RULES]]" in text else text


def _rules() -> str:
    """The documents' allowed values, from the Python tables (spelled once, there)."""
    from agentconsole.control.breakers import MODES
    from agentconsole.control.budgets import LIMIT_NAMES
    from agentconsole.control.flags import FLAG_TYPES
    from agentconsole.control.holds import KINDS

    def table(values: tuple[str, ...]) -> str:
        return "{" + ", ".join(f"[{_lua_string(v)}] = true" for v in values) + "}"

    return (
        f"local FLAG_TYPES = {table(FLAG_TYPES)}\n"
        f"local BREAKER_MODES = {table(MODES)}\n"
        f"local LIMITS = {table(LIMIT_NAMES)}\n"
        f"local KILL_SCOPES = {table(('agent', 'tenant', 'all'))}\n"
        f"local HOLD_KINDS = {table(KINDS)}"
    )


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def register(client: RedisClient, name: str) -> AsyncScript:
    """A redis-py Script object: EVALSHA with a transparent reload after SCRIPT FLUSH."""
    return client.register_script(source(name))
