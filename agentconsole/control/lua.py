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
    return resources.files("agentconsole.control").joinpath("lua", f"{name}.lua").read_text()


def register(client: RedisClient, name: str) -> AsyncScript:
    """A redis-py Script object: EVALSHA with a transparent reload after SCRIPT FLUSH."""
    return client.register_script(source(name))
