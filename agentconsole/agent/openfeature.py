"""An OpenFeature provider over the runtime's snapshot, for agent code that uses openfeature-sdk.

    from openfeature import api
    api.set_provider(AgentConsoleProvider(runtime))
    api.get_client().get_boolean_value("new-planner", False, EvaluationContext("user-42"))

Flags are boolean; the key is the context attribute named by the flag's stickiness
("user", "tenant" or "agent"), else the targeting key. Evaluation is local (no I/O).
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
        rt = self.runtime
        snap = rt.snapshot
        if snap is None:
            return FlagResolutionDetails(
                default_value,
                error_code=ErrorCode.PROVIDER_NOT_READY,
                error_message="no control-plane snapshot yet",
                reason=Reason.ERROR,
            )
        flag = snap.flags.get(flag_key)
        if flag is None:
            return FlagResolutionDetails(
                default_value,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"no flag named {flag_key!r}",
                reason=Reason.ERROR,
            )
        key = _key(flag.stickiness, evaluation_context)
        value = rt.flags.enabled(flag_key, key=key, default=default_value)
        if rt.safe_mode:
            reason = Reason.STALE
        elif not flag.enabled:
            reason = Reason.DISABLED
        elif flag.rollout_bp < 10_000 or flag.allow or flag.deny:
            reason = Reason.TARGETING_MATCH if value else Reason.SPLIT
        else:
            reason = Reason.STATIC
        return FlagResolutionDetails(
            value,
            reason=reason,
            variant="on" if value else "off",
            flag_metadata={"version": flag.version, "type": flag.type},
        )

    def _mismatch(self, default_value: Any) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(
            default_value,
            error_code=ErrorCode.TYPE_MISMATCH,
            error_message="agentconsole flags are boolean",
            reason=Reason.ERROR,
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Any = None
    ) -> FlagResolutionDetails[str]:
        return self._mismatch(default_value)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Any = None
    ) -> FlagResolutionDetails[int]:
        return self._mismatch(default_value)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Any = None
    ) -> FlagResolutionDetails[float]:
        return self._mismatch(default_value)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: Any = None,
    ) -> FlagResolutionDetails[Any]:
        return self._mismatch(default_value)


def _key(stickiness: str, ctx: EvaluationContext | None) -> str | None:
    if ctx is None:
        return None
    value = ctx.attributes.get(stickiness)
    if isinstance(value, str) and value:
        return value
    return ctx.targeting_key
