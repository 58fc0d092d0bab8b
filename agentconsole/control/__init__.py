"""The Redis control plane: flags, breakers, kills, budgets, registry, audit, events."""

from agentconsole.control.errors import (
    AlreadyExists,
    Conflict,
    ControlError,
    CorruptValue,
    InvalidValue,
    NotFound,
    PermissionDenied,
    SchemaMismatch,
    Unavailable,
)
from agentconsole.control.keys import Keys
from agentconsole.control.plane import ControlPlane
from agentconsole.control.roles import Operator

__all__ = [
    "AlreadyExists",
    "Conflict",
    "ControlError",
    "ControlPlane",
    "CorruptValue",
    "InvalidValue",
    "Keys",
    "NotFound",
    "Operator",
    "PermissionDenied",
    "SchemaMismatch",
    "Unavailable",
]
