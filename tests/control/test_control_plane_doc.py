"""docs/control-plane.md must match the code: every key, the schema version, scripts, roles."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from agentconsole.control.keys import SCHEMA_VERSION, Keys
from agentconsole.control.roles import REQUIRED_ROLE

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "control-plane.md").read_text(encoding="utf-8")
LUA_DIR = ROOT / "agentconsole" / "control" / "lua"


def key_patterns() -> set[str]:
    """Every key builder of ``Keys``, rendered with ``<parameter>`` placeholders."""
    keys = Keys("prefix")
    out: set[str] = set()
    skip = {"tag", "prefix", "partitions", "registry_pattern", "partition_of", "all_partitions"}
    skip |= {"partition_for", "partition", "agent"}  # rendered below, as partition(<n>)
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_") or name in skip:
            continue
        out |= _rendered(keys, name, member)
    part = keys.partition("<n>")
    for name, member in inspect.getmembers(type(part)):
        if not name.startswith("_") and name != "tag":
            out |= _rendered(part, name, member)
    return out


def _rendered(obj: object, name: str, member: object) -> set[str]:
    if isinstance(member, property):
        value = getattr(obj, name)
    elif inspect.isfunction(member):
        params = list(inspect.signature(member).parameters)[1:]
        value = getattr(obj, name)(*(f"<{p}>" for p in params))
    else:
        return set()
    return set(value) if isinstance(value, tuple) else {value}


def documented_keys() -> set[str]:
    """The first column of the doc's key tables."""
    return set(re.findall(r"^\| `(\{prefix(?::agents:<n>)?\}:[^`]*)` \|", DOC, flags=re.MULTILINE))


def test_every_key_is_documented_and_nothing_else():
    code, doc = key_patterns(), documented_keys()
    assert code - doc == set(), "keys in keys.py missing from docs/control-plane.md"
    assert doc - code == set(), "keys in docs/control-plane.md that keys.py does not build"


def test_schema_version_matches():
    assert f"Schema version: {SCHEMA_VERSION}\n" in DOC
    assert f"now `{SCHEMA_VERSION}`" in DOC


def test_every_lua_script_is_documented():
    scripts = {p.name for p in LUA_DIR.glob("*.lua")}
    documented = set(re.findall(r"^\| `([a-z_]+\.lua)` \|", DOC, flags=re.MULTILINE))
    assert scripts == documented


def test_roles_table_matches():
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| (viewer|responder|admin) \|$", DOC, re.M))
    assert rows == REQUIRED_ROLE
