"""Errors of the control plane, each phrased so the CLI and console can show it as is."""

from __future__ import annotations

from typing import Any

from agentconsole import text


class ControlError(Exception):
    """Base: an action that could not be done. The CLI maps it to exit code 1."""


class NotFound(ControlError):
    pass


class AlreadyExists(ControlError):
    """Created first by someone else: carries their value (when it could be read)."""

    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class InvalidValue(ControlError, text.Invalid):
    """A value refused by the grammar (``agentconsole.text``) or by an entity's own rules."""


def checked_name(value: Any, what: str) -> str:
    """The one name rule (``text.name``), failing as a control-plane error."""
    try:
        return text.name(value, what)
    except text.Invalid as exc:
        raise InvalidValue(str(exc)) from None


class PermissionDenied(ControlError):
    pass


class CorruptValue(ControlError):
    """A value in Redis that is not what this version wrote (bad UTF-8, bad JSON, bad type)."""


class SchemaMismatch(ControlError):
    pass


class Conflict(ControlError):
    """Someone else changed the entity first: carries the current value so nothing is lost."""

    def __init__(self, message: str, current: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.current = current


class Unavailable(ControlError):
    """Redis could not be reached or did not answer in time. The CLI maps it to exit code 3."""


class NoApplier(ControlError):
    """Applier mode: Redis answers, but no applier took the request in time (exit code 1:
    the change was not made; Redis is fine, so this is not :class:`Unavailable`)."""


class ControlPlaneReset(ControlError):
    """The control plane in Redis was wiped or replaced: an operator must restore or accept."""
