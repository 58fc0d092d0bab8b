"""Targeting constraints: conditions on the evaluation context, with Unleash's operators.

A constraint names one context field (``tenant``, ``user``, ``agent``, ``model``,
``environment``, ``region``, ``current_time`` or a custom field), an operator and its
value(s). A flag is on for a context only when every one of its constraints holds, as in an
Unleash strategy. Each constraint is compiled once into a small test function, so the SDK's
hot path pays one call per constraint and no parsing.

Unleash's rules, kept exactly (its client-specification cases prove them):
- a missing field fails every operator except ``NOT_IN``;
- ``case_insensitive`` applies to the ``STR_*`` operators only;
- ``inverted`` negates the result, but an unknown operator (a document written by a newer
  version) never matches, inverted or not;
- ``NUM_*`` compare numbers, ``DATE_*`` instants,
  ``SEMVER_*`` semantic versions (an unparsable version never matches);
  only ``current_time`` defaults to now when missing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import semver

from agentconsole.control.errors import InvalidValue

Context = Mapping[str, Any]
Test = Callable[[Context], bool]

# The fields the SDK fills in for every run; any other name is a custom field.
CONTEXT_FIELDS = ("user", "tenant", "agent", "model", "environment", "region", "current_time")
LIST_OPERATORS = ("IN", "NOT_IN", "STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS")
VALUE_OPERATORS = (
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_LT",
)
OPERATORS = LIST_OPERATORS + VALUE_OPERATORS
MAX_VALUES = 1000


@dataclass(frozen=True)
class Constraint:
    context: str
    operator: str
    values: tuple[str, ...] = ()
    value: str = ""
    case_insensitive: bool = False
    inverted: bool = False

    def __post_init__(self) -> None:
        # Not a field: compiled from the fields, never stored or compared.
        object.__setattr__(self, "test", _compile(self))

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"context": self.context, "operator": self.operator}
        if self.operator in VALUE_OPERATORS:
            doc["value"] = self.value
        else:
            doc["values"] = list(self.values)
        if self.case_insensitive:
            doc["case_insensitive"] = True
        if self.inverted:
            doc["inverted"] = True
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Constraint:
        """Structural reading only (a stored document is trusted to have been checked)."""
        values = doc.get("values") or ()
        if isinstance(values, str):
            values = (values,)
        return cls(
            context=str(doc["context"]),
            operator=str(doc["operator"]),
            values=tuple(str(v) for v in values),
            value=str(doc.get("value", "")),
            case_insensitive=bool(doc.get("case_insensitive", False)),
            inverted=bool(doc.get("inverted", False)),
        )

    def check(self) -> Constraint:
        """Refuse what could never be meant, before anything is written."""
        from agentconsole.control.flags import check_name

        check_name(self.context, "context field")
        if self.operator not in OPERATORS:
            raise InvalidValue(
                f"unknown operator {self.operator!r}: use one of {', '.join(OPERATORS)}"
            )
        if self.operator in LIST_OPERATORS:
            if len(self.values) > MAX_VALUES:
                raise InvalidValue(f"at most {MAX_VALUES} values per constraint")
            for v in self.values:
                _check_value_text(v)
            return self
        _check_value_text(self.value)
        kind = self.operator.split("_")[0]
        parsed = {"NUM": _number, "DATE": _instant, "SEMVER": _semver}[kind](self.value)
        if parsed is None:
            what = {"NUM": "a number", "DATE": "an ISO 8601 time", "SEMVER": "a semantic version"}
            raise InvalidValue(f"{self.operator} needs {what[kind]}, got {self.value!r}")
        return self

    def summary(self) -> str:
        """One line for the console and the CLI: ``tenant IN globex, acme``."""
        op = ("NOT " if self.inverted else "") + self.operator
        if self.case_insensitive:
            op += " (any case)"
        if self.operator in VALUE_OPERATORS:
            return f"{self.context} {op} {self.value}"
        shown = ", ".join(self.values[:5]) + (" …" if len(self.values) > 5 else "")
        return f"{self.context} {op} {shown or '(none)'}"


def holds(constraints: tuple[Constraint, ...], context: Context) -> bool:
    return all(c.test(context) for c in constraints)


def _check_value_text(value: str) -> None:
    if len(value) > 256 or any(ord(ch) < 32 for ch in value):
        raise InvalidValue(f"constraint value {value[:40]!r}: at most 256 printable characters")


def _compile(c: Constraint) -> Test:
    base = _base(c)
    if base is None:
        return _never
    if not c.inverted:
        return base
    return lambda ctx: not base(ctx)


def _never(ctx: Context) -> bool:
    return False


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _base(c: Constraint) -> Test | None:
    name, op = c.context, c.operator
    if op == "IN":
        members = frozenset(c.values)
        return lambda ctx: _text(ctx.get(name)) in members
    if op == "NOT_IN":
        members = frozenset(c.values)
        return lambda ctx: _text(ctx.get(name)) not in members
    if op.startswith("STR_"):
        return _string(name, op, c.values, c.case_insensitive)
    if op.startswith("NUM_"):
        return _numeric(name, op, _number(c.value))
    if op.startswith("DATE_"):
        return _date(name, op, _instant(c.value))
    if op.startswith("SEMVER_"):
        return _semantic(name, op, _semver(c.value))
    return None


def _string(name: str, op: str, values: tuple[str, ...], fold: bool) -> Test | None:
    wanted = tuple(v.lower() for v in values) if fold else values
    method = {
        "STR_STARTS_WITH": str.startswith,
        "STR_ENDS_WITH": str.endswith,
        "STR_CONTAINS": str.__contains__,
    }.get(op)
    if method is None:
        return None

    def test(ctx: Context) -> bool:
        value = _text(ctx.get(name))
        if value is None:
            return False
        if fold:
            value = value.lower()
        return any(method(value, w) for w in wanted)

    return test


def _numeric(name: str, op: str, bound: float | None) -> Test | None:
    compare = {
        "NUM_EQ": float.__eq__,
        "NUM_GT": float.__gt__,
        "NUM_GTE": float.__ge__,
        "NUM_LT": float.__lt__,
        "NUM_LTE": float.__le__,
    }.get(op)
    if compare is None or bound is None:
        return _never if compare is not None else None

    def test(ctx: Context) -> bool:
        value = _number(ctx.get(name))
        return value is not None and compare(value, bound)

    return test


def _date(name: str, op: str, bound: float | None) -> Test | None:
    if op not in ("DATE_AFTER", "DATE_BEFORE"):
        return None
    if bound is None:
        return _never
    after = op == "DATE_AFTER"
    now_by_default = name == "current_time"

    def test(ctx: Context) -> bool:
        raw = ctx.get(name)
        if raw is None and now_by_default:
            return time.time() > bound if after else time.time() < bound
        value = _instant(raw)
        if value is None:
            return False
        return value > bound if after else value < bound

    return test


def _semantic(name: str, op: str, bound: semver.Version | None) -> Test | None:
    wanted = {"SEMVER_EQ": (0,), "SEMVER_GT": (1,), "SEMVER_LT": (-1,)}.get(op)
    if wanted is None:
        return None
    if bound is None:
        return _never

    def test(ctx: Context) -> bool:
        value = _semver(ctx.get(name))
        return value is not None and value.compare(bound) in wanted

    return test


def _number(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _instant(raw: Any) -> float | None:
    """Seconds since the epoch from a datetime, a number or an ISO 8601 text (Z or offset)."""
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    else:
        try:
            moment = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _semver(raw: Any) -> semver.Version | None:
    if raw is None:
        return None
    try:
        return semver.Version.parse(str(raw).strip())
    except (TypeError, ValueError):
        return None
