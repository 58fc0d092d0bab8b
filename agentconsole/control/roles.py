"""Who may do what. The action functions check this; the UI hides what a role cannot do."""

from __future__ import annotations

from dataclasses import dataclass

from agentconsole.control.errors import PermissionDenied

RANK = {"viewer": 0, "responder": 1, "admin": 2}

# Minimum role for each operator action. One table, read by control/ and by the UI.
REQUIRED_ROLE: dict[str, str] = {
    "flag.create": "admin",
    "flag.delete": "admin",
    "flag.enable": "responder",
    "flag.disable": "responder",
    "flag.rollout": "responder",
    "flag.update": "responder",
    "flag.variants": "responder",
    "flag.constraints": "responder",
    "flag.override": "responder",
    "tenant.move": "responder",
    "flag.import": "admin",
    "breaker.trip": "responder",
    "breaker.force_close": "responder",
    "breaker.reset": "responder",
    "kill.agent": "responder",
    "kill.tenant": "responder",
    "kill.all": "responder",
    "kill.lift": "responder",
    # the steps of the ladder before a kill (control/holds.py): whoever may kill may hold
    "drain.agent": "responder",
    "drain.tenant": "responder",
    "drain.all": "responder",
    "drain.lift": "responder",
    "pause.agent": "responder",
    "pause.tenant": "responder",
    "pause.all": "responder",
    "pause.lift": "responder",
    "budget.set": "admin",
    "budget.tenant": "responder",
    "agent.reap": "responder",
    "registry.upgrade": "admin",
    "runbook.step": "responder",
    "runbook.action": "responder",
    "silence.create": "responder",
    "silence.expire": "responder",
    "rollout.create": "responder",
    "rollout.start": "responder",
    "rollout.pause": "responder",
    "rollout.resume": "responder",
    "rollout.advance": "responder",
    "rollout.rollback": "responder",
    "rollout.abort": "responder",
    "approval.request": "responder",
    "approval.approve": "responder",
    "approval.reject": "responder",
    "approval.override": "responder",
    "control.restore": "admin",
    "control.accept": "admin",
}


@dataclass(frozen=True)
class Operator:
    name: str
    role: str

    def can(self, action: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[REQUIRED_ROLE[action]]

    def require(self, action: str) -> None:
        if not self.can(action):
            raise PermissionDenied(
                f"not permitted: {action} needs the {REQUIRED_ROLE[action]} role; "
                f"{self.name} is {self.role}"
            )
