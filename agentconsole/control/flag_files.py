"""Flags as a YAML file, so teams keep them in git and review changes: export, parse, plan.

With ``--prune`` an import also deletes the flags the file does not name.

The file holds what an operator sets (state, rollout, lists, variants, payloads, overrides,
constraints), never bookkeeping (who changed it when) or a rollout plan's progress (the
controller's, see docs/rollouts.md). Each flag carries the ``version`` it was exported at:
an import changes a flag only if it is still at that version (compare-and-set), so an
import never silently undoes a change made since the export. A flag without ``version``
is created, and refused if it already exists.

    flags:
      model-tier:
        version: 4
        type: operational
        enabled: true
        rollout: 100%
        stickiness: tenant
        value_type: string
        variants:
        - {name: standard, weight: 100, payload: gpt-4o}
        - name: cheap
          weight: 0
          payload: gpt-4o-mini
          overrides:
          - {context: tenant, values: [globex]}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agentconsole.control.bucketing import parse_percent
from agentconsole.control.errors import InvalidValue
from agentconsole.control.flag_diff import diff
from agentconsole.control.flags import Flag
from agentconsole.control.targeting import Constraint
from agentconsole.control.variants import Override, Variant

FORMAT = 1
# Keys of a flag in the file, in the order they are written.
FIELDS = (
    "version",
    "type",
    "enabled",
    "rollout",
    "stickiness",
    "group",
    "allow",
    "deny",
    "default",
    "tracked",
    "description",
    "owner",
    "value_type",
    "variant_stickiness",
    "variants",
    "constraints",
)
# The Flag attribute each key sets (the file says ``rollout: 25%``, the flag keeps basis points).
SETTINGS = tuple("rollout_bp" if key == "rollout" else key for key in FIELDS if key != "version")
VARIANT_FIELDS = {"name", "weight", "payload", "overrides"}
OVERRIDE_FIELDS = {"context", "values"}
CONSTRAINT_FIELDS = {"context", "operator", "values", "value", "case_insensitive", "inverted"}


def export(flags: list[Flag], *, header: str = "") -> str:
    """The YAML text of ``flags`` (sorted by name), stable so git diffs stay small."""
    import yaml

    doc = {
        "format": FORMAT,
        "flags": {f.name: _flag_entry(f) for f in sorted(flags, key=lambda f: f.name)},
    }
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return (f"# {header}\n" if header else "") + body


def _flag_entry(flag: Flag) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "version": flag.version,
        "type": flag.type,
        "enabled": flag.enabled,
        "rollout": flag.rollout,
        "stickiness": flag.stickiness,
    }
    optional = {
        "group": flag.group,
        "allow": list(flag.allow),
        "deny": list(flag.deny),
        "default": flag.default,
        "tracked": flag.tracked,
        "description": flag.description,
        "owner": flag.owner,
        "variant_stickiness": flag.variant_stickiness,
    }
    entry.update({k: v for k, v in optional.items() if v})
    if flag.value_type != "boolean" or flag.variants:
        entry["value_type"] = flag.value_type
    if flag.variants:
        entry["variants"] = [v.to_doc() for v in flag.variants]
    if flag.constraints:
        entry["constraints"] = [c.to_doc() for c in flag.constraints]
    return entry


@dataclass
class Spec:
    """One flag as the file wants it, and the version the file expects it at (None: new)."""

    name: str
    expected_version: int | None
    fields: dict[str, Any] = field(default_factory=dict)


def parse(text: str) -> list[Spec]:
    """Read a flags file; every mistake is refused with the flag and key it is in."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidValue(f"flags file is not valid YAML{where}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
        raise InvalidValue("a flags file is a mapping with a 'flags:' mapping of name -> flag")
    if doc.get("format", FORMAT) != FORMAT:
        raise InvalidValue(f"flags file format {doc.get('format')!r}: this version reads {FORMAT}")
    return [_spec(str(name), entry) for name, entry in doc["flags"].items()]


def _spec(name: str, entry: Any) -> Spec:
    where = f"flag {name!r}"
    if not isinstance(entry, dict):
        raise InvalidValue(f"{where}: expected a mapping of its settings")
    unknown = set(entry) - set(FIELDS)
    if unknown:
        raise InvalidValue(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    fields: dict[str, Any] = {}
    try:
        for key, value in entry.items():
            if key == "version":
                continue
            if key == "rollout":
                fields["rollout_bp"] = parse_percent(value)
            elif key in ("allow", "deny"):
                fields[key] = [str(v) for v in _list(value, key)]
            elif key in ("enabled", "default", "tracked"):
                if not isinstance(value, bool):
                    raise InvalidValue(f"{key} must be true or false")
                fields[key] = value
            elif key == "variants":
                fields[key] = tuple(_variant(v) for v in _list(value, key))
            elif key == "constraints":
                fields[key] = tuple(_constraint(c) for c in _list(value, key))
            else:
                fields[key] = "" if value is None else str(value)
    except (InvalidValue, ValueError, TypeError, KeyError) as exc:
        raise InvalidValue(f"{where}: {exc}") from None
    version = entry.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidValue(f"{where}: version must be a whole number (the exported version)")
    return Spec(name, version, fields)


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidValue(f"{key} must be a list")
    return value


def _variant(raw: Any) -> Variant:
    if not isinstance(raw, dict) or "name" not in raw:
        raise InvalidValue("each variant is a mapping with at least a name")
    unknown = set(raw) - VARIANT_FIELDS
    if unknown:
        raise InvalidValue(f"variant {raw['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise InvalidValue(f"variant {raw['name']!r}: weight must be a whole number")
    overrides = []
    for o in _list(raw.get("overrides"), "overrides"):
        if not isinstance(o, dict) or set(o) - OVERRIDE_FIELDS or "context" not in o:
            raise InvalidValue(f"variant {raw['name']!r}: an override is {{context, values}}")
        overrides.append(
            Override(str(o["context"]), tuple(str(v) for v in _list(o.get("values"), "values")))
        )
    return Variant(str(raw["name"]), weight, raw.get("payload"), tuple(overrides))


def _constraint(raw: Any) -> Constraint:
    if not isinstance(raw, dict) or set(raw) - CONSTRAINT_FIELDS:
        raise InvalidValue(f"a constraint has only the keys {', '.join(sorted(CONSTRAINT_FIELDS))}")
    return Constraint.from_doc(raw)


@dataclass
class Step:
    """What an import does to one flag: create, update, unchanged, or refuse (conflict)."""

    name: str
    kind: str  # create | update | unchanged | delete | conflict
    expected_version: int
    after: Flag | None
    lines: list[str]


def plan(
    current: dict[str, Flag], specs: list[Spec], *, force: bool = False, prune: bool = False
) -> list[Step]:
    """The import's effect, flag by flag, checked but not written (the dry run shows it).

    ``force`` takes each flag at its current version instead of the file's: for a file
    kept by hand, with the diff reviewed first. ``prune`` deletes the flags the file does
    not name (the file is then the whole truth), each at the version read now.
    """
    steps = []
    if prune:
        named = {spec.name for spec in specs}
        for name in sorted(set(current) - named):
            gone = current[name]
            steps.append(Step(name, "delete", gone.version, None, diff(gone, None)))
    for spec in specs:
        have = current.get(spec.name)
        if have is None:
            if spec.expected_version not in (None, 0) and not force:
                steps.append(
                    Step(
                        spec.name,
                        "conflict",
                        0,
                        None,
                        [f"exported at version {spec.expected_version}, but it no longer exists"],
                    )
                )
                continue
            flag = Flag(spec.name, **spec.fields).check()
            steps.append(Step(spec.name, "create", 0, flag, diff(None, flag)))
            continue
        if not force and spec.expected_version != have.version:
            what = (
                "the file has no version (a new flag) but it exists"
                if spec.expected_version is None
                else f"the file expects version {spec.expected_version}"
            )
            steps.append(
                Step(
                    spec.name,
                    "conflict",
                    have.version,
                    None,
                    [
                        f"{what}; it is at version {have.version} (changed by "
                        f"{have.changed_by or '?'}): export again, or --force"
                    ],
                )
            )
            continue
        wanted = _defaults_for(spec)
        flag = dataclasses.replace(have, **wanted).check()
        lines = diff(have, flag)
        steps.append(Step(spec.name, "update" if lines else "unchanged", have.version, flag, lines))
    return steps


def _defaults_for(spec: Spec) -> dict[str, Any]:
    """A key left out of the file means its default, so deleting a line in git resets it."""
    base = Flag(spec.name)
    wanted = {name: getattr(base, name) for name in SETTINGS}
    wanted.update(spec.fields)
    return wanted
