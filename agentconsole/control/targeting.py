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

import functools
import math
import operator
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    # Compiled from the fields above, never passed, stored, shown or compared.
    test: Test = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
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
            op += "/i"
        if self.operator in VALUE_OPERATORS:
            return f"{self.context} {op} {self.value}"
        shown = ",".join(self.values[:5]) + (" …" if len(self.values) > 5 else "")
        return f"{self.context} {op} {shown or '(none)'}"


def parse_constraint(text: str) -> Constraint:
    """``region IN eu,us`` · ``plan NOT IN free`` · ``email STR_ENDS_WITH/i @acme.com`` ·
    ``sdk_version SEMVER_GT 1.2.0``: the field, an optional NOT (inverts), the operator
    (``/i``: any case) and its value(s), comma-separated for the list operators. The
    summary a constraint shows (``Constraint.summary``) reads back the same way."""
    parts = text.strip().split(None, 2)
    if len(parts) < 3:
        raise InvalidValue(
            f"a constraint reads FIELD [NOT] OPERATOR VALUES (e.g. 'region IN eu,us'), got {text!r}"
        )
    name, op, rest = parts
    inverted = op.upper() == "NOT"
    if inverted:
        more = rest.split(None, 1)
        if len(more) < 2:
            raise InvalidValue(f"NOT needs an operator and values: {text!r}")
        op, rest = more
    fold = op.lower().endswith("/i")
    op = op.upper().removesuffix("/I")
    if op == "NOT_IN" and inverted:
        raise InvalidValue("NOT NOT_IN is IN: write it that way")
    if op in VALUE_OPERATORS:
        c = Constraint(name, op, value=rest.strip(), case_insensitive=fold, inverted=inverted)
    else:
        values = tuple(v.strip() for v in rest.split(",") if v.strip())
        c = Constraint(name, op, values=values, case_insensitive=fold, inverted=inverted)
    return c.check()


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


def _base(c: Constraint) -> Test | None:
    name, op = c.context, c.operator
    if op in ("IN", "NOT_IN"):
        return _membership(name, frozenset(c.values), op == "IN")
    if op.startswith("STR_"):
        return _string(name, op, c.values, c.case_insensitive)
    if op.startswith("NUM_"):
        return _numeric(name, op, _number(c.value))
    if op.startswith("DATE_"):
        return _date(name, op, _instant(c.value))
    if op.startswith("SEMVER_"):
        return _semantic(name, op, _semver(c.value))
    return None


def _membership(name: str, members: frozenset[str], inside: bool) -> Test:
    def test(ctx: Context) -> bool:
        value = ctx.get(name)
        if value is None:
            return not inside
        return ((value if type(value) is str else str(value)) in members) is inside

    return test


def _string(name: str, op: str, values: tuple[str, ...], fold: bool) -> Test | None:
    wanted = tuple(v.lower() for v in values) if fold else values
    if op not in ("STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"):
        return None
    starts, ends = op == "STR_STARTS_WITH", op == "STR_ENDS_WITH"

    def test(ctx: Context) -> bool:
        value = ctx.get(name)
        if value is None:
            return False
        if type(value) is not str:
            value = str(value)
        if fold:
            value = value.lower()
        if starts:
            return value.startswith(wanted)
        if ends:
            return value.endswith(wanted)
        return any(w in value for w in wanted)

    return test


def _numeric(name: str, op: str, bound: float | None) -> Test | None:
    compare: Callable[[float, float], bool] | None = {
        "NUM_EQ": operator.eq,
        "NUM_GT": operator.gt,
        "NUM_GTE": operator.ge,
        "NUM_LT": operator.lt,
        "NUM_LTE": operator.le,
    }.get(op)
    if compare is None or bound is None:
        return _never if compare is not None else None

    def test(ctx: Context) -> bool:
        value: Any = ctx.get(name)  # an int or a float here, else read through _number
        kind = type(value)
        if kind is not int and kind is not float:
            value = _number(value)
            if value is None:
                return False
        return compare(value, bound)

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


def _semantic(name: str, op: str, bound: tuple[Any, ...] | None) -> Test | None:
    if op not in ("SEMVER_EQ", "SEMVER_GT", "SEMVER_LT"):
        return None
    if bound is None:
        return _never

    def test(ctx: Context) -> bool:
        raw = ctx.get(name)
        value = _semver_key(raw) if type(raw) is str else _semver(raw)
        if value is None:
            return False
        if op == "SEMVER_EQ":
            return value == bound
        return value > bound if op == "SEMVER_GT" else value < bound

    return test


def _number(raw: Any) -> float | None:
    kind = type(raw)
    if kind is float or kind is int:
        return float(raw) if math.isfinite(raw) else None
    if raw is None or kind is bool:
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


def _semver(raw: Any) -> tuple[Any, ...] | None:
    """A version's precedence as a tuple (compares like semver), or None if it is not one."""
    if raw is None:
        return None
    return _semver_key(raw if type(raw) is str else str(raw))


@functools.lru_cache(maxsize=4096)
def _semver_key(text: str) -> tuple[Any, ...] | None:
    """Parsed by the semver library once per distinct text (a fleet has few versions);
    a release ranks after its pre-releases, numeric identifiers before alphanumeric ones."""
    try:
        v = semver.Version.parse(text.strip())
    except (TypeError, ValueError):
        return None
    if v.prerelease is None:
        return (v.major, v.minor, v.patch, 1, ())
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(v.prerelease).split(".")
    )
    return (v.major, v.minor, v.patch, 0, parts)
