"""The metrics layer the console, the CLI and runbooks use: panels, ad-hoc queries, alerts.

Why it never raises from a fetch: a dead Prometheus, a hanging proxy or one bad PromQL line
must never freeze the console or blank the other panels. Every panel is fetched on its own,
concurrently, with its own deadline, and comes back as a ``PanelResult`` saying what it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from agentconsole.metrics.client import POOL_SIZE, Answer, PromQL, QueryFailure, number, one_line
from agentconsole.metrics.model import AlertsResult, PanelDef, PanelResult, status_for
from agentconsole.metrics.panels import build_panels, preset_interval, render
from agentconsole.text import duration

if TYPE_CHECKING:
    import httpx

    from agentconsole.config import Settings
    from agentconsole.control.plane import ControlPlane
    from agentconsole.metrics.model import Alert

WINDOWS: dict[str, float] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400}
TARGET_POINTS = 240
MAX_POINTS = 11_000  # Prometheus rejects more points per series
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
KEEP_LAST_GOOD = ("unreachable", "timeout", "error")
RULES_RETRY = 60.0  # seconds a panel reads its raw query after its recording rule had no data


def parse_window(window: str) -> float:
    """'15m', '1h', '6h', '24h' (or any Prometheus-style duration: 90s, 2h, 1d)."""
    if window in WINDOWS:
        return WINDOWS[window]
    return duration(window, "window")  # the one grammar; text.Invalid is a ValueError


def choose_step(window_s: float, target_points: int = TARGET_POINTS) -> float:
    """A round step giving about ``target_points`` points, never more than 11,000."""
    raw = window_s / target_points
    step = next((s for s in NICE_STEPS if s >= raw), math.ceil(raw))
    while window_s / step + 1 > MAX_POINTS:
        step *= 2
    return float(step)


def series_interval(step: float) -> str:
    """Rate window for a chart: at least 2 minutes and two steps, so no sample is skipped."""
    return f"{int(max(120, 2 * step))}s"


class DaemonPool:
    """Worker threads for the sync PromQL client that never hold up the process' exit.

    A ThreadPoolExecutor's workers are joined when the interpreter exits, so quitting the
    console while Prometheus hangs waited for every hung request's timeout (5 s). These
    threads are daemons: a request still hanging at exit simply ends with the process.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if len(self._threads) < self.size:
            thread = threading.Thread(target=self._work, name="promql", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._jobs.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        while not self._closed:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, fn, args = job
            try:
                outcome, failed = fn(*args), False
            except BaseException as exc:  # delivered to the awaiting coroutine
                outcome, failed = exc, True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, outcome, failed)

    def shutdown(self) -> None:
        """Stop the idle workers; queued queries are cancelled, a hung one is left behind."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                loop, future = job[0], job[1]
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(future.cancel)
        for _ in self._threads:
            self._jobs.put(None)


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled: nobody waits for this answer any more
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class MetricsService:
    def __init__(
        self,
        settings: Settings,
        plane: ControlPlane | None = None,
        *,
        interval: str | None = None,
        rules: bool = True,
    ) -> None:
        """``interval`` overrides the preset's rate window for current values (e.g. "5m");
        ``rules=False`` never reads the recording rules (the bench's baseline)."""
        self.settings = settings
        self.read_rules = rules
        self._rules_window: float | None = None  # the preset's interval, in seconds
        self._raw_until: dict[str, float] = {}  # panel id -> when to try its rule again
        self.plane = plane
        self.timeout = settings.prometheus.timeout
        self._panels: list[PanelDef] | None = None
        self._interval: str | None = interval
        self._promql = PromQL(settings.prometheus)
        self._pool: DaemonPool | None = None
        self._http: httpx.AsyncClient | None = None
        self._alertmanager: httpx.AsyncClient | None = None
        self._last_good: dict[tuple[str, str], PanelResult] = {}

    @property
    def rate_interval(self) -> str:
        """The rate window of current values ("2m"): the forecast burns at the panels' rate."""
        from agentconsole.config import ConfigError

        with contextlib.suppress(ConfigError):  # a bad panel shows on the overview
            self.panels()
        return self._interval or "1m"

    # --- panels -----------------------------------------------------------------------

    def panels(self) -> list[PanelDef]:
        """Preset plus config panels; raises ConfigError on a bad definition (at start-up)."""
        if self._panels is None:
            self._panels = build_panels(self.settings)
            preset = preset_interval(self.settings)
            self._interval = self._interval or preset
            with contextlib.suppress(ValueError):
                self._rules_window = parse_window(preset)
        return list(self._panels)

    async def fetch_panels(self, window: str = "15m") -> list[PanelResult]:
        """Every panel at once, each within its own timeout. Never raises.

        A bad panel configuration comes back as one result (id ``config``) carrying the
        ``ConfigError`` line; call :meth:`panels` at start-up to refuse it there instead.
        """
        from agentconsole.config import ConfigError

        try:
            panels = self.panels()
        except ConfigError as exc:
            bad = PanelDef(id="config", title="Panel configuration", query="")
            return [PanelResult(panel=bad, error_kind="error", error=one_line(exc, 500))]
        try:
            window_s = parse_window(window)
        except ValueError as exc:
            return [self._failed(p, "error", str(exc), window) for p in panels]
        now = time.time()
        panels = await self._budget_targets(panels)
        results = await asyncio.gather(
            *(self._fetch_panel(p, window, window_s, now) for p in panels), return_exceptions=True
        )
        out = []
        for panel, result in zip(panels, results, strict=True):
            if isinstance(result, BaseException):  # a bug must not blank the others
                result = self._failed(panel, "error", f"internal error: {one_line(result)}", window)
            out.append(result)
        return out

    async def _budget_targets(self, panels: list[PanelDef]) -> list[PanelDef]:
        """Targets that name a budget get its current value (one read); no budget, no target."""
        from dataclasses import replace

        from agentconsole.metrics.model import Target

        if not any(p.target is not None and p.target.budget for p in panels):
            return panels
        limits = None
        if self.plane is not None:
            try:
                limits = await self.plane.budgets.get()
            except Exception:  # Redis trouble shows in the header; the panels keep going
                limits = None
        out = []
        for p in panels:
            t = p.target
            if t is not None and t.budget:
                value = float(getattr(limits, t.budget, 0) or 0) * t.scale if limits else 0.0
                p = replace(p, target=Target(value, t.direction) if value > 0 else None)
            out.append(p)
        return out

    async def fetch_panel(self, panel_id: str, window: str = "15m") -> PanelResult:
        panel = next((p for p in self.panels() if p.id == panel_id), None)
        if panel is None:
            raise KeyError(panel_id)
        (panel,) = await self._budget_targets([panel])
        return await self._fetch_panel(panel, window, parse_window(window), time.time())

    async def _fetch_panel(
        self, panel: PanelDef, window: str, window_s: float, now: float
    ) -> PanelResult:
        if panel.unavailable:
            return self._failed(panel, "no_data", panel.unavailable, window)
        step = choose_step(window_s)
        end = now  # the last point is "now", whatever the step: a live view, not a report
        start = end - window_s
        recorded = self._recorded(panel, now)
        if recorded:  # "$today" of spend today's rule
            recorded = render(recorded, self._interval or "1m", now)
        instant_q = recorded or render(panel.query, self._interval or "1m", now)
        calls = [self._run(self._promql.query, instant_q, self.timeout)]
        if panel.series_query:
            series_q = render(panel.series_query, series_interval(step), now)
            if recorded:
                series_q = self._recorded_series(recorded, step)
            calls.append(
                self._run(self._promql.query_range, series_q, start, end, step, self.timeout)
            )
        gathered = asyncio.gather(*calls, return_exceptions=True)
        try:
            # shielded: the worker threads cannot be stopped anyway, and a cancelled gather
            # whose late answer nobody reads logs "exception was never retrieved"
            answers = await asyncio.wait_for(asyncio.shield(gathered), self.timeout)
        except TimeoutError:
            gathered.add_done_callback(_drop_late_answer)
            return self._failed(
                panel, "timeout", f"no answer within {self.timeout:g} s", window, step=step
            )
        instant = answers[0]
        if isinstance(instant, QueryFailure):
            return self._failed(panel, instant.kind, instant.message, window, step=step)
        if isinstance(instant, BaseException):
            raise instant
        if recorded and not _samples(instant):
            # the rule has no data (not loaded, or a fresh Prometheus): the raw query, and
            # only that for a while, so a store without our rules pays one query per panel
            self._raw_until[panel.id] = time.monotonic() + RULES_RETRY
            return await self._fetch_panel(panel, window, window_s, now)
        result = PanelResult(panel=panel, window=window, step=step)
        if recorded:
            result.source = "recorded"
        result.warnings.extend(instant.warnings)
        self._fill_value(result, instant, now)
        if len(answers) > 1:
            ranged = answers[1]
            if isinstance(ranged, QueryFailure):
                result.warnings.append(f"chart: {ranged.kind}: {ranged.message}")
            elif isinstance(ranged, BaseException):
                raise ranged
            else:
                result.warnings.extend(w for w in ranged.warnings if w not in result.warnings)
                result.series = self._series(ranged, panel, result.warnings)
        if result.error_kind is None:
            self._last_good[(panel.id, window)] = result
        return result

    def _recorded(self, panel: PanelDef, now: float) -> str | None:
        """The panel's recorded query, when it computes what ``query`` would now: the rules'
        window is the current-value interval, and the rule had data the last time."""
        if not (self.read_rules and panel.recorded and self._rules_window):
            return None
        try:
            if parse_window(self._interval or "") != self._rules_window:
                return None
        except ValueError:
            return None
        if time.monotonic() < self._raw_until.get(panel.id, 0.0):
            return None
        return panel.recorded

    def reads_rules(self, key: str, window: str) -> bool:
        """Whether a read named ``key`` over ``window`` asks the recording rules: they are
        read, their window is this one, and they had data the last time (``rules_empty``)."""
        if not (self.read_rules and self._rules_window):
            return False
        try:
            if parse_window(window) != self._rules_window:
                return False
        except ValueError:
            return False
        return time.monotonic() >= self._raw_until.get(key, 0.0)

    def rules_empty(self, key: str) -> None:
        """The rules had no data for ``key``: its raw query for ``RULES_RETRY`` seconds."""
        self._raw_until[key] = time.monotonic() + RULES_RETRY

    def _recorded_series(self, recorded: str, step: float) -> str:
        """A chart over the rule: as is when a point's rate window is the rule's, else the
        rule's values averaged over the point's window (6h/24h charts: a smoothed chart of
        the 2m values, from one series instead of every process's)."""
        window = parse_window(series_interval(step))
        if self._rules_window is None or window <= self._rules_window:
            return recorded
        return f"avg_over_time(({recorded})[{int(window)}s:])"

    def _fill_value(self, result: PanelResult, answer: Answer, now: float) -> None:
        panel = result.panel
        samples = _samples(answer)
        if not samples:
            result.error_kind = "no_data"
            result.error = panel.empty or (
                "no data: the query returned nothing (no traffic, or no such metric)"
            )
            return
        result.sample_time = max(t for _, t, _ in samples)
        result.staleness = max(0.0, now - result.sample_time)
        values = [v for _, _, v in samples if v is not None]
        if panel.by:
            for labels, _, v in samples:
                if v is not None:
                    result.labels_series[labels.get(panel.by) or "(none)"] = v
        elif len(samples) > 1:
            result.warnings.append(
                f"the query returned {len(samples)} series; showing their {panel.combine}"
            )
        if not values:
            result.error_kind = "no_data"
            result.error = panel.empty or "no data: no traffic in the window (the query gave NaN)"
            return
        result.value = _combine(values, panel.combine)
        if math.isinf(result.value):
            result.warnings.append("value is infinite (above the highest histogram bucket?)")
        result.status = status_for(result.value, panel.target, panel.warn_margin)

    def _series(
        self, answer: Answer, panel: PanelDef, warnings: list[str]
    ) -> list[tuple[float, float]]:
        if answer.result_type != "matrix" or not isinstance(answer.result, list):
            return []
        streams = [s.get("values") or [] for s in answer.result if isinstance(s, dict)]
        if len(streams) > 1:
            warnings.append(f"chart: {len(streams)} series; showing their {panel.combine}")
        points: dict[float, list[float]] = {}
        for stream in streams:
            for pair in stream:
                try:
                    t, v = float(pair[0]), number(pair[1])
                except (TypeError, ValueError, IndexError):
                    continue
                if v is not None:
                    points.setdefault(t, []).append(v)
        return [(t, _combine(vs, panel.combine)) for t, vs in sorted(points.items())]

    def _failed(
        self, panel: PanelDef, kind: str, message: str, window: str, step: float | None = None
    ) -> PanelResult:
        """An error result; for connection-type errors it carries the last good value."""
        result = PanelResult(panel=panel, error_kind=kind, error=message, window=window, step=step)
        last = self._last_good.get((panel.id, window))
        if last is not None and kind in KEEP_LAST_GOOD:
            result.value, result.series = last.value, list(last.series)
            result.labels_series = dict(last.labels_series)
            result.sample_time = last.sample_time
            if last.sample_time is not None:
                result.staleness = max(0.0, time.time() - last.sample_time)
            result.last_good = True
        return result

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._pool is None:
            self._pool = DaemonPool(POOL_SIZE)
        try:
            return await self._pool.submit(fn, *args)
        except QueryFailure as exc:
            return exc

    # --- ad-hoc queries (runbooks) ------------------------------------------------------

    async def query(
        self,
        promql: str,
        *,
        by: str | None = None,
        combine: str = "sum",
        timeout: float | None = None,
    ) -> PanelResult:
        """One instant query, as a PanelResult of an ad-hoc panel. Never raises."""
        panel = PanelDef(id="query", title=promql, query=promql, by=by, combine=combine)
        now = time.time()
        limit = self.timeout if timeout is None else timeout
        result = PanelResult(panel=panel)
        try:
            answer = await asyncio.wait_for(self._run(self._promql.query, promql, limit), limit)
        except TimeoutError:
            answer = QueryFailure("timeout", f"no answer within {limit:g} s")
        if isinstance(answer, QueryFailure):
            result.error_kind, result.error = answer.kind, answer.message
            return result
        result.warnings.extend(answer.warnings)
        self._fill_value(result, answer, now)
        if not by:
            for labels, _, v in _samples(answer):
                if v is not None:
                    result.labels_series[_label_text(labels)] = v
        return result

    # --- alerts and silences ------------------------------------------------------------

    async def alerts(self) -> AlertsResult:
        """Firing and pending alerts, with silence state when Alertmanager is configured."""
        from agentconsole.metrics.alerts import fetch_alerts

        return await fetch_alerts(self)

    async def rules(self) -> dict[str, Any]:
        """Raw ``/api/v1/rules`` data (groups, health, lastError); raises QueryFailure."""
        from agentconsole.metrics.alerts import fetch_rules

        return await fetch_rules(self)

    async def silence(self, alert: Alert, duration_s: float, comment: str) -> str:
        from agentconsole.metrics.silences import create_silence

        return await create_silence(self, alert, duration_s, comment)

    async def expire_silence(self, silence_id: str) -> None:
        from agentconsole.metrics.silences import expire_silence

        await expire_silence(self, silence_id)

    def http(self) -> httpx.AsyncClient:
        """httpx client for the Prometheus API (alerts, rules)."""
        if self._http is None:
            import httpx

            from agentconsole.metrics.client import (
                auth_headers,
                base_url,
                basic_auth,
                ssl_context,
                tls_verify,
            )

            p = self.settings.prometheus
            self._http = httpx.AsyncClient(
                base_url=base_url(p.url),
                headers=auth_headers(p),
                auth=basic_auth(p),
                timeout=httpx.Timeout(p.timeout, connect=min(p.timeout, 3.0)),
                # TLS options go to the transport: a client's own verify= is ignored with one
                transport=httpx.AsyncHTTPTransport(verify=ssl_context(tls_verify(p)), retries=1),
            )
        return self._http

    def alertmanager(self) -> httpx.AsyncClient | None:
        url = self.settings.alertmanager.url
        if not url:
            return None
        if self._alertmanager is None:
            import httpx

            from agentconsole.metrics.client import base_url

            t = self.settings.alertmanager.timeout
            self._alertmanager = httpx.AsyncClient(
                base_url=base_url(url),
                timeout=httpx.Timeout(t, connect=min(t, 3.0)),
                transport=httpx.AsyncHTTPTransport(retries=1),
            )
        return self._alertmanager

    async def close(self) -> None:
        for client in (self._http, self._alertmanager):
            if client is not None:
                await client.aclose()
        self._http = self._alertmanager = None
        self._promql.close()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _samples(answer: Answer) -> list[tuple[dict[str, str], float, float | None]]:
    """(labels, sample time, value or None for NaN) of a vector or scalar answer."""
    result = answer.result
    if answer.result_type in ("scalar", "string") and isinstance(result, list) and len(result) == 2:
        return [({}, float(result[0]), number(result[1]))]
    out = []
    if answer.result_type == "vector" and isinstance(result, list):
        for item in result:
            try:
                t, raw = item["value"]
                labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
                out.append((labels, float(t), number(raw)))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _combine(values: list[float], how: str) -> float:
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return math.fsum(values)


def _label_text(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _drop_late_answer(future: asyncio.Future[Any]) -> None:
    """An answer that came after the panel's timeout: read it so asyncio does not warn."""
    if not future.cancelled():
        future.exception()
