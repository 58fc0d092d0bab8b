"""Structured JSON logs at the decision points, always with the trace id.

Only the fields given here are logged: never prompts, completions, arguments or secrets.
User ids can be replaced by a salted hash so logs can be shipped where ids must not go.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

LOGGER_NAME = "agentconsole.agent"
logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, message and the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(doc, default=str, ensure_ascii=False, separators=(",", ":"))


def configure_json_logging(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Attach a JSON handler to the SDK's logger (the host app may configure its own)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


class EventLog:
    """Cheap when disabled: nothing is built unless the level is enabled."""

    def __init__(self, hash_user_ids: bool = False, salt: str = "") -> None:
        self.hash_user_ids = hash_user_ids
        self.salt = salt

    def user(self, user: str) -> str:
        if not self.hash_user_ids or not user:
            return user
        return "h:" + hashlib.sha256((self.salt + user).encode()).hexdigest()[:16]

    def emit(self, level: int, event: str, message: str, **fields: Any) -> None:
        if not logger.isEnabledFor(level):
            return
        if "user" in fields:
            fields["user"] = self.user(str(fields["user"]))
        fields.setdefault("trace_id", "")
        logger.log(level, message, extra={"event": event, "fields": fields})

    def info(self, event: str, message: str, **fields: Any) -> None:
        self.emit(logging.INFO, event, message, **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self.emit(logging.WARNING, event, message, **fields)
