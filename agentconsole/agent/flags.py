"""Flag evaluation for agent code: local, from the snapshot, with the control plane's own rule.

``Flag.resolve`` (control/flags.py) decides on/off and the variant; this module only picks
the snapshot, the context and the fallbacks. No snapshot ever read (Redis down since start):
the default given in code. A flag missing from the snapshot: also that default. Safe mode:
kill-switch flags read as engaged (off).

The context a run is evaluated in is the process's (``environment`` from the settings, plus
``AgentRuntime(context={...})``: region, custom fields) and the run's own ``user``,
``tenant``, ``agent`` and ``model``, built once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentconsole.control.flags import OFF_DISABLED, Resolution

if TYPE_CHECKING:
    from agentconsole.agent.run import Run
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.control.flags import Flag

_EMPTY: Mapping[str, Any] = {}


class FlagClient:
    def __init__(self, runtime: AgentRuntime, context: Mapping[str, Any] | None = None) -> None:
        self._rt = runtime
        self.context: dict[str, Any] = {"environment": runtime.settings.environment.name}
        self.context.update(context or {})

    def context_for(self, *, user: str, tenant: str, agent: str, model: str) -> dict[str, Any]:
        """A run's evaluation context: the process's fields, then the run's own."""
        ctx = dict(self.context)
        ctx.update(user=user, tenant=tenant, agent=agent, model=model)
        return ctx

    def enabled(
        self,
        name: str,
        key: str | None = None,
        default: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Is ``name`` on for ``key`` (a user, tenant or agent id, per the flag's stickiness)?"""
        snap = self._rt.snapshot
        if snap is None:
            return default
        flag = snap.flags.get(name)
        if flag is None:
            return default
        if flag.type == "kill-switch" and self._rt.safe_mode:
            return False
        return flag.evaluate(key, context)

    def resolve(self, name: str, context: Mapping[str, Any]) -> Resolution | None:
        """On/off and the variant for ``context``; None when there is no such flag (yet)."""
        snap = self._rt.snapshot
        if snap is None:
            return None
        flag = snap.flags.get(name)
        if flag is None:
            return None
        if flag.type == "kill-switch" and self._rt.safe_mode:
            return OFF_DISABLED
        return flag.resolve(context)

    def variant(self, name: str, context: Mapping[str, Any] = _EMPTY) -> str | None:
        """The variant served to ``context``, or None (off, no variants, no snapshot)."""
        snap = self._rt.snapshot
        flag = snap.flags.get(name) if snap is not None else None
        if flag is None or (flag.type == "kill-switch" and self._rt.safe_mode):
            return None
        return flag.resolve(context).variant

    def value(self, name: str, default: Any, context: Mapping[str, Any] = _EMPTY) -> Any:
        """The served variant's payload if it has the default's type, else the default.

        A boolean flag (or a ``bool`` default) answers on/off. ``default=None`` takes any
        payload. The default's type is the contract: a number flag never hands a caller
        that expects text a float.
        """
        return typed_value(self.resolve(name, context), default)

    def get(self, name: str) -> Flag | None:
        snap = self._rt.snapshot
        return snap.flags.get(name) if snap is not None else None

    def names(self) -> list[str]:
        snap = self._rt.snapshot
        return sorted(snap.flags) if snap is not None else []


def flagged_kwargs(
    run: Run | None, flags: Mapping[str, str] | None, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A request's arguments with some taken from flags, e.g. ``{"model": "model-tier"}``:
    the payload the run is served replaces the argument when it has the type the caller
    used (any type when the caller passed none); a flag that serves no payload (off, a
    variant without one) leaves the argument as the code wrote it."""
    if not flags or run is None:
        return kwargs
    out = kwargs
    for arg, flag in flags.items():
        value = run.value(flag, kwargs.get(arg))
        if value is not None and value is not kwargs.get(arg):
            if out is kwargs:
                out = dict(kwargs)
            out[arg] = value
    return out


def typed_value(result: Resolution | None, default: Any) -> Any:
    """``run.value``'s rule: the payload if it has the default's type; a bool asks on/off."""
    if result is None:
        return default
    if isinstance(default, bool):
        return result.on
    payload = result.payload
    if payload is None or not result.on:
        return default
    return payload if matches(payload, default) else default


def variant_label(result: Resolution) -> str:
    """The label of run metrics by variant: the variant served, else on/off."""
    return result.variant or ("on" if result.on else "off")


def matches(payload: Any, default: Any) -> bool:
    """Does ``payload`` have the type the caller's ``default`` promises?"""
    if default is None:
        return True
    if isinstance(default, str):
        return isinstance(payload, str)
    if isinstance(default, int | float):
        return isinstance(payload, int | float) and not isinstance(payload, bool)
    if isinstance(default, Mapping):
        return isinstance(payload, Mapping)
    if isinstance(default, list | tuple):
        return isinstance(payload, list)
    return isinstance(payload, type(default))
