"""Backups of the control state, and the operator's decision after a reset.

A backup is one consistent read (MULTI) of flags, breakers, kills, budgets, holds (drains
and pauses; absent from older backups), the schema, the
epoch and the version, as a JSON file. ``restore`` writes it back under a new epoch in one
script with one audit entry; ``accept`` keeps what Redis holds and only writes the new
epoch. Either way the agents that held their last snapshot through a reset (see
control/epoch.py) adopt the decided epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec, lua
from agentconsole.control.epoch import ACCEPT, RESTORE, Epoch
from agentconsole.control.errors import CorruptValue, InvalidValue
from agentconsole.control.keys import SCHEMA_VERSION

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

FORMAT = "agentconsole-backup"
FORMAT_VERSION = 1
# order = the script's hash index 1-5; kills (3) and holds (5) are added, never replaced
HASHES = ("flags", "breakers", "kills", "budgets", "holds")


@dataclass
class Decision:
    """What a restore or an accept did, for the CLI to say."""

    how: str
    epoch: Epoch
    version: int
    restored: dict[str, int]
    kills_kept: int
    held: dict[str, int]  # epoch id -> highest version the holding agents kept


async def take(plane: ControlPlane) -> dict[str, Any]:
    """The backup document; unreadable entries are left out and listed under ``problems``."""
    keys = plane.keys
    async with plane.redis.pipeline(transaction=True) as pipe:
        pipe.get(keys.schema)
        pipe.get(keys.epoch)
        pipe.get(keys.version)
        for name in HASHES:
            pipe.hgetall(getattr(keys, name))
        schema, epoch, version, *hashes = await pipe.execute()
    problems: list[str] = []
    stored_epoch = Epoch.parse(epoch)
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "prefix": keys.prefix,
        "taken_at": round(time.time(), 3),
        "taken_by": plane.operator.name,
        "schema": int(codec.number(schema, SCHEMA_VERSION)),
        "epoch": json.loads(stored_epoch.dump()) if stored_epoch else None,
        "version": int(codec.number(version)),
    }
    for name, raw in zip(HASHES, hashes, strict=True):
        docs: dict[str, Any] = {}
        for field, value in raw.items():
            label = codec.lenient_text(field)
            try:
                docs[label] = codec.document(value, f"{getattr(keys, name)} {label!r}")
            except CorruptValue as exc:
                problems.append(str(exc))
        data[name] = docs
    data["problems"] = problems
    return data


def validate(data: Any) -> dict[str, Any]:
    """A backup file's content, checked before anything is written."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidValue('not an agentconsole backup (no "format": "agentconsole-backup")')
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidValue(f"backup format v{data.get('format_version')} is not understood")
    schema = data.get("schema")
    if not isinstance(schema, int) or not 0 < schema <= SCHEMA_VERSION:
        raise InvalidValue(
            f"backup of schema {schema!r}: this agentconsole writes v{SCHEMA_VERSION}"
        )
    if not isinstance(data.get("version"), int) or data["version"] < 0:
        raise InvalidValue("backup has no valid control-plane version")
    for name in HASHES:
        docs = data.get(name, {})
        if not isinstance(docs, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in docs.items()
        ):
            raise InvalidValue(f"backup's {name!r} must map names to JSON objects")
    return data


def load(path: str) -> dict[str, Any]:
    """A backup file, read and checked (InvalidValue says why it cannot be restored)."""
    from pathlib import Path

    try:
        return validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as exc:
        raise InvalidValue(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidValue(f"{path} is not a JSON backup: {exc}") from None


async def restore(plane: ControlPlane, data: dict[str, Any], reason: str = "") -> Decision:
    """Write the backup back under a new epoch (admin, audited, one atomic step)."""
    plane.operator.require("control.restore")
    data = validate(data)
    triples: list[Any] = []
    for index, name in enumerate(HASHES, start=1):
        for field, doc in data.get(name, {}).items():
            triples += [index, field, codec.dump(doc)]
    counts = {name: len(data.get(name, {})) for name in HASHES}
    source = data.get("epoch") or {}
    target = f"backup of epoch {source.get('id', '?')} version {data['version']}"
    return await _decide(plane, RESTORE, target, counts, data["version"], triples, reason)


async def accept(plane: ControlPlane, reason: str = "") -> Decision:
    """Keep what Redis holds now (possibly empty) as the truth, under a new epoch."""
    plane.operator.require("control.accept")
    return await _decide(plane, ACCEPT, "current state", {}, 0, [], reason)


async def _decide(
    plane: ControlPlane,
    how: str,
    target: str,
    counts: dict[str, int],
    backup_version: int,
    triples: list[Any],
    reason: str,
) -> Decision:
    from agentconsole.control.plane import AUDIT_MAXLEN, translate

    status = await plane.reset_status()
    held = status.held_versions if status else {}
    previous = await plane.epoch()
    epoch = Epoch.new(plane.operator.name, how, previous.id if previous else "")
    keys = plane.keys
    script = lua.register(plane.redis, "restore")
    summary = codec.dump({"epoch": epoch.id, **counts})
    try:
        version, kept = await script(
            keys=[
                *(getattr(keys, name) for name in HASHES[:4]),
                keys.schema,
                keys.epoch,
                keys.version,
                keys.audit,
                keys.reset_holders,
                keys.holds,
            ],
            args=[
                how,
                plane.operator.name,
                plane.operator.role,
                reason,
                f"{time.time():.3f}",
                AUDIT_MAXLEN,
                keys.events,
                epoch.dump(),
                epoch.id,
                SCHEMA_VERSION,
                backup_version,
                target,
                summary,
                *triples,
            ],
        )
    except Exception as exc:
        err = translate(exc)
        if err is None:
            raise
        raise err from None
    plane.reset = None
    return Decision(how, epoch, int(version), counts, int(kept), held)
