"""Flag evaluation for agent code: local, from the snapshot, with the control plane's bucketing.

No snapshot ever read (Redis down since start): the default given in code. A flag missing
from the snapshot: also that default. Safe mode: kill-switch flags read as engaged (False).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentconsole.agent.runtime import AgentRuntime
    from agentconsole.control.flags import Flag


class FlagClient:
    def __init__(self, runtime: AgentRuntime) -> None:
        self._rt = runtime

    def enabled(self, name: str, key: str | None = None, default: bool = False) -> bool:
        """Is ``name`` on for ``key`` (a user, tenant or agent id, per the flag's stickiness)?"""
        snap = self._rt.snapshot
        if snap is None:
            return default
        flag = snap.flags.get(name)
        if flag is None:
            return default
        if flag.type == "kill-switch" and self._rt.safe_mode:
            return False
        return flag.evaluate(key)

    def get(self, name: str) -> Flag | None:
        snap = self._rt.snapshot
        return snap.flags.get(name) if snap is not None else None

    def names(self) -> list[str]:
        snap = self._rt.snapshot
        return sorted(snap.flags) if snap is not None else []
