"""Creating and expiring Alertmanager silences, each one audited in the control plane.

Order of operations: role check first (nothing reaches Alertmanager for a viewer), then
Alertmanager, then the audit record. If the audit record cannot be written the silence is
expired again, so there is never a silence without its audit entry. Asking twice for the
same silence returns the first one instead of stacking a second.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentconsole.control.errors import ControlError, InvalidValue, NotFound, Unavailable
from agentconsole.metrics.client import httpx_failure, one_line

if TYPE_CHECKING:
    import httpx

    from agentconsole.metrics.model import Alert
    from agentconsole.metrics.service import MetricsService

MAX_DURATION_S = 30 * 86400
_SILENCE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _require(service: MetricsService, action: str) -> httpx.AsyncClient:
    if service.plane is None:
        raise ControlError("silences need the control plane (for the audit log)")
    service.plane.operator.require(action)
    client = service.alertmanager()
    if client is None:
        raise InvalidValue("no Alertmanager configured: set alertmanager.url")
    return client


async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, path, **kwargs)
    except Exception as exc:
        _kind, message = httpx_failure(exc, str(client.base_url))
        raise Unavailable(f"Alertmanager: {message}") from None
    if response.status_code >= 400:
        raise ControlError(
            f"Alertmanager refused (HTTP {response.status_code}): {one_line(response.text, 200)}"
        )
    return response


def matchers_for(alert: Alert) -> list[dict[str, Any]]:
    return [
        {"name": k, "value": v, "isRegex": False, "isEqual": True}
        for k, v in sorted(alert.labels.items())
    ]


def _same_matchers(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(ms: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {
            (m.get("name"), m.get("value"), bool(m.get("isRegex")), m.get("isEqual", True))
            for m in ms
        }

    return key(a) == key(b)


async def create_silence(
    service: MetricsService, alert: Alert, duration_s: float, comment: str
) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise InvalidValue("a silence needs a comment: say why, for the next person on call")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise InvalidValue(
            f"silence duration: expected more than 0 s and at most 30 days, got {duration_s:g} s"
        )
    if not alert.labels:
        raise InvalidValue("this alert has no labels to match: cannot silence it")
    client = _require(service, "silence.create")
    plane = service.plane
    assert plane is not None
    creator = plane.operator.name
    matchers = matchers_for(alert)
    existing = (await _call(client, "GET", "/api/v2/silences")).json()
    for s in existing if isinstance(existing, list) else []:
        if (
            isinstance(s, dict)
            and (s.get("status") or {}).get("state") == "active"
            and s.get("createdBy") == creator
            and _same_matchers(s.get("matchers") or [], matchers)
        ):
            return str(s.get("id"))  # asked twice: the first silence stands
    now = time.time()
    body = {
        "matchers": matchers,
        "startsAt": _iso(now),
        "endsAt": _iso(now + duration_s),
        "createdBy": creator,
        "comment": comment,
    }
    response = await _call(client, "POST", "/api/v2/silences", json=body)
    try:
        silence_id = str(response.json()["silenceID"])
    except (ValueError, KeyError, TypeError):
        raise ControlError("Alertmanager answered without a silence id") from None
    from agentconsole.control import silences

    doc = {
        "alert": alert.name,
        "identity": alert.identity,
        "matchers": matchers,
        "starts_at": now,
        "ends_at": now + duration_s,
    }
    try:
        await silences.record_created(plane, silence_id, doc, comment)
    except Exception as exc:
        try:
            await _call(client, "DELETE", f"/api/v2/silence/{silence_id}")
            undone = "so it was expired again"
        except ControlError:
            undone = f"and expiring it failed too: expire silence {silence_id} by hand"
        raise Unavailable(
            f"silence not kept: its audit entry could not be written ({one_line(exc, 160)}), "
            f"{undone}"
        ) from None
    return silence_id


async def expire_silence(service: MetricsService, silence_id: str) -> None:
    if not _SILENCE_ID.match(silence_id or ""):
        raise InvalidValue(f"not a silence id: {one_line(silence_id, 80)!r}")
    client = _require(service, "silence.expire")
    plane = service.plane
    assert plane is not None
    try:
        response = await client.get(f"/api/v2/silence/{silence_id}")
    except Exception as exc:
        raise Unavailable(f"Alertmanager: {httpx_failure(exc, str(client.base_url))[1]}") from None
    if response.status_code == 404:
        raise NotFound(f"no silence {silence_id} in Alertmanager")
    if response.status_code >= 400:
        raise ControlError(
            f"Alertmanager refused (HTTP {response.status_code}): {one_line(response.text, 200)}"
        )
    state = ((response.json() or {}).get("status") or {}).get("state")
    if state == "expired":
        raise NotFound(f"silence {silence_id} is already expired")
    await _call(client, "DELETE", f"/api/v2/silence/{silence_id}")
    from agentconsole.control import silences

    try:
        await silences.record_expired(plane, silence_id)
    except Exception as exc:
        raise Unavailable(
            f"silence {silence_id} expired in Alertmanager, but its audit entry could not be "
            f"written: {one_line(exc, 160)}"
        ) from None
