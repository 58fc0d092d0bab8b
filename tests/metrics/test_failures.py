"""Every way Prometheus can fail, reported with the right error kind within the timeout."""

from __future__ import annotations

import json
import time

import pytest

from agentconsole.config import Secret, Settings
from agentconsole.metrics.service import MetricsService
from tests.fixtures.procs import free_port
from tests.fixtures.prometheus import hanging_socket, http_stub, self_signed_certificate

TIMEOUT = 1.0  # for servers that never answer: the timeout is what is tested
ANSWERING = 30.0  # for servers that answer: a busy machine must not turn them into timeouts


def service_for(url: str, **prometheus) -> MetricsService:
    settings = Settings()
    settings.prometheus.url = url
    settings.prometheus.timeout = ANSWERING
    for key, value in prometheus.items():
        setattr(settings.prometheus, key, value)
    settings.panels = [{"id": "extra", "title": "Extra", "query": "vector(1)"}]
    return MetricsService(settings)


async def fetch(svc: MetricsService):
    started = time.monotonic()
    try:
        results = await svc.fetch_panels()
        alerts = await svc.alerts()
    finally:
        await svc.close()
    return results, alerts, time.monotonic() - started


def success(value: str = "1.5", warnings: list[str] | None = None) -> str:
    doc = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [time.time(), value]}]},
    }
    if warnings:
        doc["warnings"] = warnings
    return json.dumps(doc)


async def test_prometheus_down_is_unreachable() -> None:
    # a refused connection answers at once; the long timeout keeps a busy machine from
    # turning it into a timeout
    results, alerts, _ = await fetch(service_for(f"http://127.0.0.1:{free_port()}", timeout=30))
    assert {r.error_kind for r in results} == {"unreachable"}
    assert all("cannot connect" in r.error for r in results)
    assert alerts.error_kind == "unreachable" and alerts.alerts == []


async def test_hanging_server_is_a_timeout_within_the_panel_timeout() -> None:
    with hanging_socket() as url:
        results, alerts, _ = await fetch(service_for(url, timeout=TIMEOUT))
    assert {r.error_kind for r in results} == {"timeout"}
    assert alerts.error_kind == "timeout"


async def test_a_proxy_answering_500_is_an_error_with_its_text() -> None:
    with http_stub(lambda path, headers: (500, "<html>upstream exploded</html>")) as stub:
        results, alerts, _ = await fetch(service_for(stub.url))
    assert {r.error_kind for r in results} == {"error"}
    assert "HTTP 500" in results[0].error and "upstream exploded" in results[0].error
    assert alerts.error_kind == "error"


async def test_a_503_query_timeout_is_a_timeout_and_not_retried() -> None:
    body = json.dumps(
        {"status": "error", "errorType": "timeout", "error": "query timed out in query execution"}
    )
    with http_stub(lambda path, headers: (503, body)) as stub:
        svc = service_for(stub.url)
        try:
            result = await svc.query("up")
        finally:
            await svc.close()
    assert result.error_kind == "timeout"
    assert "query timed out in query execution" in result.error
    assert len(stub.requests) == 1  # never retried blindly


async def test_a_502_from_a_proxy_is_retried_once() -> None:
    calls = []

    def handler(path, headers):
        calls.append(path)
        return (502, "bad gateway") if len(calls) == 1 else (200, success("2"))

    with http_stub(handler) as stub:
        svc = service_for(stub.url)
        try:
            result = await svc.query("up")
        finally:
            await svc.close()
    assert result.value == 2 and result.error_kind is None
    assert len(calls) == 2


async def test_bad_query_carries_prometheus_own_message() -> None:
    body = json.dumps(
        {
            "status": "error",
            "errorType": "bad_data",
            "error": '1:5: parse error: unexpected "\x1b[31m" in label matching',
        }
    )
    with http_stub(lambda path, headers: (400, body)) as stub:
        svc = service_for(stub.url)
        try:
            result = await svc.query("up{")
        finally:
            await svc.close()
    assert result.error_kind == "bad_query"
    assert result.error.startswith("1:5: parse error")
    assert "\x1b" not in result.error  # server text is data: no terminal escapes


async def test_warnings_come_through() -> None:
    with http_stub(
        lambda p, h: (200, success("3", ["PromQL info: metric might not be a counter"]))
    ) as stub:
        svc = service_for(stub.url)
        try:
            results = {r.panel.id: r for r in await svc.fetch_panels()}
        finally:
            await svc.close()
    assert results["extra"].value == 3
    assert "PromQL info: metric might not be a counter" in results["extra"].warnings


async def test_not_a_prometheus_api_and_unauthorised() -> None:
    with http_stub(lambda p, h: (200, "<html>login</html>")) as stub:
        svc = service_for(stub.url)
        html = await svc.query("up")
        await svc.close()
    with http_stub(lambda p, h: (401, "no")) as stub:
        svc = service_for(stub.url)
        denied = await svc.query("up")
        await svc.close()
    assert html.error_kind == "error" and "not answer like a Prometheus API" in html.error
    assert denied.error_kind == "error" and "not authorised" in denied.error


async def test_path_prefix_token_and_extra_headers_are_sent(tmp_path) -> None:
    def handler(path, headers):
        if not path.startswith("/tenant-a/prometheus/api/v1/"):
            return 404, "not found"
        if headers.get("authorization") != "Bearer s3cret":
            return 401, "no token"
        if headers.get("x-scope-orgid") != "team-a":
            return 400, "no org"
        if "/api/v1/alerts" in path:
            return 200, json.dumps({"status": "success", "data": {"alerts": []}})
        return 200, success("4")

    with http_stub(handler) as stub:
        svc = service_for(
            stub.url + "/tenant-a/prometheus/",
            token=Secret("s3cret"),
            headers={"X-Scope-OrgID": "team-a"},
        )
        try:
            result = await svc.query("up")
            alerts = await svc.alerts()
        finally:
            await svc.close()
    assert result.value == 4, result.error
    assert alerts.error_kind is None and alerts.alerts == []
    assert "s3cret" not in repr(svc.settings)


async def test_basic_auth_from_a_secret() -> None:
    import base64

    expected = "Basic " + base64.b64encode(b"ops:pw").decode()

    def handler(path, headers):
        return (200, success("5")) if headers.get("authorization") == expected else (401, "x")

    with http_stub(handler) as stub:
        svc = service_for(stub.url, username="ops", password=Secret("pw"))
        try:
            result = await svc.query("up")
        finally:
            await svc.close()
    assert result.value == 5, result.error


async def test_last_good_value_is_kept_with_growing_staleness_when_prometheus_fails() -> None:
    state = {"up": True}

    def handler(path, headers):
        return (200, success("7")) if state["up"] else (500, "down for maintenance")

    with http_stub(handler) as stub:
        svc = service_for(stub.url)
        try:
            first = {r.panel.id: r for r in await svc.fetch_panels()}["extra"]
            state["up"] = False
            later = {r.panel.id: r for r in await svc.fetch_panels()}["extra"]
        finally:
            await svc.close()
    assert first.value == 7 and first.error_kind is None and not first.last_good
    assert later.error_kind == "error" and later.status == "unknown"
    assert later.value == 7 and later.last_good
    assert later.sample_time == first.sample_time
    assert later.staleness >= first.staleness


async def test_a_bad_window_is_reported_not_raised() -> None:
    svc = service_for(f"http://127.0.0.1:{free_port()}")
    try:
        results = await svc.fetch_panels("forever")
    finally:
        await svc.close()
    assert {r.error_kind for r in results} == {"error"}
    assert "window" in results[0].error


@pytest.mark.parametrize("kind", ["unreachable", "timeout"])
async def test_one_dead_alertmanager_does_not_hide_the_alerts(kind) -> None:
    body = json.dumps({"status": "success", "data": {"alerts": []}})
    with http_stub(lambda p, h: (200, body)) as prom, hanging_socket() as hung:
        svc = service_for(prom.url)
        svc.settings.alertmanager.url = (
            hung if kind == "timeout" else f"http://127.0.0.1:{free_port()}"
        )
        svc.settings.alertmanager.timeout = TIMEOUT
        try:
            alerts = await svc.alerts()
        finally:
            await svc.close()
    assert alerts.error_kind is None
    assert alerts.alertmanager_error and alerts.alertmanager_error.startswith("Alertmanager:")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def prometheus_answers(path, headers):
    if "/api/v1/alerts" in path:
        return 200, json.dumps({"status": "success", "data": {"alerts": []}})
    return 200, success("6")


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ({}, "unreachable"),  # our own CA is not in the system's store
        ({"ca_file": "CERT"}, None),
        ({"verify_tls": False}, None),
    ],
    ids=["system-cas", "ca-file", "no-verify"],
)
async def test_tls_verification_options(certificate, options, kind) -> None:
    cert, _ = certificate
    options = {k: (str(cert) if v == "CERT" else v) for k, v in options.items()}
    with http_stub(prometheus_answers, tls=certificate) as stub:
        svc = service_for(stub.url, **options)
        try:
            result = await svc.query("up")
            alerts = await svc.alerts()
        finally:
            await svc.close()
    assert result.error_kind == kind, result.error
    assert alerts.error_kind == kind, alerts.error
    if kind:
        assert "TLS" in result.error or "certificate" in result.error.lower()
    else:
        assert result.value == 6


async def test_credentials_in_the_url_never_show_in_messages() -> None:
    svc = service_for(f"http://ops:hunter2@127.0.0.1:{free_port()}/prom", timeout=30)
    results, alerts, _ = await fetch(svc)
    for text in [r.error for r in results] + [alerts.error]:
        assert "hunter2" not in text and "ops:" not in text
        assert "cannot connect to http://127.0.0.1:" in text
