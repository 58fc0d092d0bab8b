"""Alerts from Prometheus (``/api/v1/alerts``) joined with Alertmanager's silence state.

Why both: Prometheus knows pending alerts and the annotations (runbook); only Alertmanager
knows which alerts a silence or an inhibition hides. A dead Alertmanager must not hide the
alert list, so its problem is reported beside the alerts, not instead of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentconsole.metrics.client import QueryFailure, httpx_failure, one_line, read_envelope
from agentconsole.metrics.model import Alert, AlertsResult
from agentconsole.text import clean

if TYPE_CHECKING:
    import httpx

    from agentconsole.metrics.service import MetricsService

MAX_LABEL = 1024
MAX_ANNOTATION = 4096


def clean_text(value: Any, limit: int) -> str:
    """Labels and annotations are data: the one sanitiser, newlines kept (no ellipsis: a
    bounded copy, not a display)."""
    text = "" if value is None else str(value)[:limit]
    return clean(text, None, multiline=True)


def identity(name: str, labels: dict[str, str]) -> str:
    """Stable id of one alert instance: name plus a hash of its sorted labels."""
    digest = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
    return f"{name}:{digest}"


def parse_time(raw: Any) -> float | None:
    if not isinstance(raw, str) or not raw or raw.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def to_alert(raw: dict[str, Any]) -> Alert | None:
    if not isinstance(raw, dict):
        return None
    labels = {
        clean_text(k, 200): clean_text(v, MAX_LABEL) for k, v in (raw.get("labels") or {}).items()
    }
    annotations = {
        clean_text(k, 200): clean_text(v, MAX_ANNOTATION)
        for k, v in (raw.get("annotations") or {}).items()
    }
    name = labels.get("alertname", "")
    runbook = annotations.get("runbook", "").strip() or None
    return Alert(
        name=name,
        state=clean_text(raw.get("state"), 20),
        severity=labels.get("severity", ""),
        labels=labels,
        annotations=annotations,
        active_at=parse_time(raw.get("activeAt")),
        value=clean_text(raw.get("value"), 100),
        runbook=runbook,
        identity=identity(name, labels),
    )


async def _get_json(
    client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    try:
        response = await client.get(path, params=params)
    except Exception as exc:
        raise QueryFailure(*httpx_failure(exc, str(client.base_url))) from None
    return response


async def fetch_prometheus_alerts(service: MetricsService) -> list[Alert]:
    client = service.http()
    response = await _get_json(client, "/api/v1/alerts")
    data, _ = read_envelope(response.status_code, response.content, str(client.base_url))
    raw = data.get("alerts") if isinstance(data, dict) else None
    if isinstance(data, dict) and "alerts" in data and raw is None:
        raw = []  # vmalert (behind VictoriaMetrics) answers null when nothing is active
    if not isinstance(raw, list):
        raise QueryFailure("error", "unexpected answer to /api/v1/alerts: no alert list")
    alerts = [a for a in (to_alert(r) for r in raw) if a is not None]
    order = {"firing": 0, "pending": 1}
    severity = {"critical": 0, "warning": 1, "info": 2}
    alerts.sort(
        key=lambda a: (order.get(a.state, 2), severity.get(a.severity, 3), a.name, a.identity)
    )
    return alerts


async def fetch_rules(service: MetricsService) -> dict[str, Any]:
    client = service.http()
    response = await _get_json(client, "/api/v1/rules")
    data, _ = read_envelope(response.status_code, response.content, str(client.base_url))
    if not isinstance(data, dict):
        raise QueryFailure("error", "unexpected answer to /api/v1/rules")
    return data


def matches(matchers: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    """Alertmanager matcher semantics: =, !=, =~, !~ (regex anchored)."""
    for m in matchers:
        value = labels.get(str(m.get("name")), "")
        want = str(m.get("value", ""))
        if m.get("isRegex"):
            try:
                hit = re.fullmatch(want, value) is not None
            except re.error:
                return False
        else:
            hit = value == want
        if hit != m.get("isEqual", True):
            return False
    return True


async def fetch_alertmanager_state(
    service: MetricsService,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(active silences, Alertmanager's alerts); raises QueryFailure."""
    client = service.alertmanager()
    assert client is not None, "asked only when Alertmanager is configured"
    silences_resp, alerts_resp = await asyncio.gather(
        _get_json(client, "/api/v2/silences"),
        _get_json(
            client,
            "/api/v2/alerts",
            {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"},
        ),
    )
    out = []
    for resp in (silences_resp, alerts_resp):
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if resp.status_code != 200 or not isinstance(doc, list):
            text = one_line(resp.text, 160)
            raise QueryFailure("error", f"Alertmanager answered HTTP {resp.status_code}: {text}")
        out.append(doc)
    silences = [s for s in out[0] if isinstance(s, dict) and _silence_active(s)]
    return silences, [a for a in out[1] if isinstance(a, dict)]


def _silence_active(silence: dict[str, Any]) -> bool:
    return (silence.get("status") or {}).get("state") == "active"


def join_alertmanager(
    alerts: list[Alert], silences: list[dict[str, Any]], am_alerts: list[dict[str, Any]]
) -> None:
    """Mark silenced (any active silence matching) and inhibited (Alertmanager says so)."""
    for alert in alerts:
        alert.silence_ids = sorted(
            str(s.get("id")) for s in silences if matches(s.get("matchers") or [], alert.labels)
        )
        alert.silenced = bool(alert.silence_ids)
        for am in am_alerts:
            am_labels = am.get("labels") or {}
            if all(am_labels.get(k) == v for k, v in alert.labels.items()):
                status = am.get("status") or {}
                alert.inhibited = bool(status.get("inhibitedBy"))
                alert.fingerprint = str(am.get("fingerprint") or "") or None
                break


async def fetch_alerts(service: MetricsService) -> AlertsResult:
    """Never raises: failures become ``error_kind``/``alertmanager_error``."""
    try:
        async with asyncio.timeout(service.timeout):  # hard bound, whatever httpx retries
            alerts = await fetch_prometheus_alerts(service)
    except TimeoutError:
        return AlertsResult([], "timeout", f"no answer within {service.timeout:g} s")
    except QueryFailure as exc:
        return AlertsResult([], exc.kind, exc.message)
    except Exception as exc:  # a bug must not take the console down
        return AlertsResult([], "error", f"internal error: {one_line(exc)}")
    result = AlertsResult(alerts)
    if service.alertmanager() is not None:
        limit = service.settings.alertmanager.timeout
        try:
            async with asyncio.timeout(limit):
                silences, am_alerts = await fetch_alertmanager_state(service)
            join_alertmanager(alerts, silences, am_alerts)
        except TimeoutError:
            result.alertmanager_error = f"Alertmanager: no answer within {limit:g} s"
        except QueryFailure as exc:
            result.alertmanager_error = f"Alertmanager: {exc.message}"
        except Exception as exc:
            result.alertmanager_error = f"Alertmanager: internal error: {one_line(exc)}"
    return result
