"""An OpenFeature provider over the runtime's snapshot, for agent code that uses openfeature-sdk.

    from openfeature import api
    api.set_provider(AgentConsoleProvider(runtime))
    api.get_client().get_boolean_value("new-planner", False, EvaluationContext("user-42"))
    api.get_client().get_string_value("model-tier", "gpt-4o", EvaluationContext(
        "user-42", {"tenant": "globex"}))

The evaluation context's attributes are the flag context (``tenant``, ``region``, custom
fields) over the runtime's own (``environment``); the targeting key stands in for the
flag's sticky field when the attributes do not name it. Boolean lookups answer on/off;
string, number and object lookups answer the served variant's payload when the flag
declares that type (else ``TYPE_MISMATCH``). Evaluation is local (no I/O), by the same
``Flag.resolve`` as ``run.variant`` / ``run.value``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.control.flags import Flag, Resolution

# What each OpenFeature lookup accepts, by the flag's declared value type.
KINDS = {"string": ("string",), "integer": ("number",), "float": ("number",), "object": ("json",)}


class AgentConsoleProvider(AbstractProvider):
    def __init__(self, runtime: AgentRuntime) -> None:
        super().__init__()
        self.runtime = runtime

    def get_metadata(self) -> Metadata:
        return Metadata(name="agentconsole")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        found = self._lookup(flag_key, default_value)
        if isinstance(found, FlagResolutionDetails):
            return found
        flag = found
        result = self.runtime.flags.resolve(
            flag_key, context_of(flag, self.runtime, evaluation_context)
        )
        assert result is not None
        value = result.on
        if self.runtime.safe_mode:
            reason = Reason.STALE
        elif not flag.enabled:
            reason = Reason.DISABLED
        elif flag.targeted:
            reason = Reason.TARGETING_MATCH if value else Reason.SPLIT
        else:
            reason = Reason.STATIC
        return FlagResolutionDetails(
            value,
            reason=reason,
            variant=result.variant or ("on" if value else "off"),
            flag_metadata={"version": flag.version, "type": flag.type},
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Any = None
    ) -> FlagResolutionDetails[str]:
        return self._valued(flag_key, default_value, evaluation_context, "string")

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Any = None
    ) -> FlagResolutionDetails[int]:
        return self._valued(flag_key, default_value, evaluation_context, "integer")

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Any = None
    ) -> FlagResolutionDetails[float]:
        return self._valued(flag_key, default_value, evaluation_context, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: Any = None,
    ) -> FlagResolutionDetails[Any]:
        return self._valued(flag_key, default_value, evaluation_context, "object")

    # --- the shared part ------------------------------------------------------------------

    def _lookup(self, flag_key: str, default_value: Any) -> Flag | FlagResolutionDetails[Any]:
        snap = self.runtime.snapshot
        if snap is None:
            return _error(
                default_value, ErrorCode.PROVIDER_NOT_READY, "no control-plane snapshot yet"
            )
        flag = snap.flags.get(flag_key)
        if flag is None:
            return _error(default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag named {flag_key!r}")
        return flag

    def _valued(
        self, flag_key: str, default_value: Any, ctx: EvaluationContext | None, kind: str
    ) -> FlagResolutionDetails[Any]:
        found = self._lookup(flag_key, default_value)
        if isinstance(found, FlagResolutionDetails):
            return found
        flag = found
        if flag.value_type not in KINDS[kind]:
            return _error(
                default_value,
                ErrorCode.TYPE_MISMATCH,
                f"flag {flag_key!r} serves {flag.value_type} values, not {kind}",
            )
        result = self.runtime.flags.resolve(flag_key, context_of(flag, self.runtime, ctx))
        assert result is not None
        meta: dict[str, bool | int | float | str] = {"version": flag.version, "type": flag.type}
        if not result.on or result.payload is None:
            reason = Reason.DISABLED if not flag.enabled else Reason.DEFAULT
            if self.runtime.safe_mode:
                reason = Reason.STALE
            return FlagResolutionDetails(
                default_value, reason=reason, variant=result.variant, flag_metadata=meta
            )
        value = _typed(result.payload, kind)
        if value is None:
            return _error(
                default_value,
                ErrorCode.TYPE_MISMATCH,
                f"variant {result.variant!r} of {flag_key!r} holds no {kind}: {result.payload!r}",
            )
        return FlagResolutionDetails(
            value, reason=self._reason(flag, result), variant=result.variant, flag_metadata=meta
        )

    def _reason(self, flag: Flag, result: Resolution) -> str:
        if self.runtime.safe_mode:
            return Reason.STALE
        if result.overridden:
            return Reason.TARGETING_MATCH
        if sum(1 for v in flag.variants if v.weight > 0) > 1:
            return Reason.SPLIT
        return Reason.TARGETING_MATCH if flag.targeted else Reason.STATIC


def context_of(flag: Flag, runtime: AgentRuntime, ctx: EvaluationContext | None) -> dict[str, Any]:
    """The flag context for an OpenFeature evaluation context (see the module docstring)."""
    from agentconsole.control.flags import key_context

    fields: dict[str, Any] = dict(runtime.flags.context)
    if ctx is None:
        return fields
    for name, value in ctx.attributes.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            fields[name] = value
    return key_context(flag, ctx.targeting_key, fields)


def _typed(payload: Any, kind: str) -> Any:
    if kind == "string":
        return payload if isinstance(payload, str) else None
    if kind == "object":
        return payload if isinstance(payload, dict | list) else None
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        return None
    if kind == "float":
        return float(payload)
    return int(payload) if float(payload).is_integer() else None


def _error(default_value: Any, code: ErrorCode, message: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        default_value, error_code=code, error_message=message, reason=Reason.ERROR
    )
