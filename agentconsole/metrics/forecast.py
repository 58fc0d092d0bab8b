"""Who is burning money: spend by tenant against its daily cap, and when it will cross it.

Why a forecast and not only a rate: "$4,950/h" means little at 3 a.m. until it is set
against what the tenant may spend today; "globex crosses its $4,000 daily cap at 14:20 UTC"
is something to act on. The arithmetic is a straight line (spend so far today plus the
current burn rate over the panels' rate window) and every sentence names the rate it used,
so it never claims more than its inputs know. The console's Spend view and
``agentconsole spend`` both print :func:`spend_report`; nothing else computes it.

Costs grow with the top N: Prometheus returns only the N tenants burning fastest and the N
that spent most today (``topk``), the registry only the N most expensive agents.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole import text

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane
    from agentconsole.metrics.service import MetricsService

DAY = 86400.0
MAX_CAPPED = 50  # tenants with their own cap always considered, however little they spend
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")
# $ per hour per tenant now, and $ since 00:00 UTC per tenant (exact without counter
# resets, never going down within a day: the spend_today panel's definition, by tenant)
RATE_BY_TENANT = "sum by (tenant) (rate(agent_cost_usd_total[$interval])) * 3600"
TODAY_BY_TENANT = (
    "sum by (tenant) (max_over_time(agent_cost_usd_total[$today])"
    " - min_over_time(agent_cost_usd_total[$today]))"
)
# The same two over the recording rules (deploy/prometheus/recording.yml): one series per
# tenant instead of every process's, the day's figure from the per-evaluation increments
RATE_RULE = "tenant:agent_spend_usd_per_day_projected:rate2m"
TODAY_RULE = "tenant:agent_cost_usd:increase15s"
RATE_RECORDED = f"{RATE_RULE} / 24"
# only when the spend group evaluated all day (deploy/prometheus/recording.yml); else no
# answer, and the report reads the raw query
COVERED = "count_over_time(agent:spend_evaluations:count[$today]) >= $today_seconds / 15 - 2"
TODAY_RECORDED = f"sum by (tenant) (sum_over_time({TODAY_RULE}[$today])) and on () ({COVERED})"
RULES_KEY = "spend_report"  # MetricsService.reads_rules: the report's own retry timer
# what each state means, worst first: the order of the table
STATES = ("over", "crossing", "no_rate", "within", "idle", "no_cap", "no_data", "unknown")


@dataclass(frozen=True)
class Forecast:
    """One tenant's outlook today: ``state`` (one of STATES), a sentence, the crossing time."""

    state: str
    text: str
    crosses_at: float | None = None
    short: str = ""  # a table cell (times UTC): "crosses 14:20 in 35m", "OVER CAP (105 %)"

    @property
    def rank(self) -> tuple[int, float]:
        return STATES.index(self.state), self.crosses_at or 0.0


def money(value: float) -> str:
    """Dollars as a sentence says them: '$4,000', '$12.50', '$0.0072'."""
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    cents, fine = f"{value:.2f}", f"{value:.4f}".rstrip("0")
    return "$" + (fine if len(fine) > len(cents) else cents)


def hm(ts: float) -> str:
    return time.strftime("%H:%M", time.gmtime(ts))


def end_of_day(now: float) -> float:
    """The next 00:00 UTC: daily caps and spend-today reset there."""
    return (math.floor(now / DAY) + 1) * DAY


def forecast(
    tenant: str,
    spent: float | None,
    rate_per_hour: float | None,
    cap: float | None,
    now: float,
    *,
    window: str = "2m",
) -> Forecast:
    """When ``tenant`` crosses ``cap`` (USD per UTC day) at ``rate_per_hour``, from ``spent``
    so far today. ``window``: the rate's window, named in the sentence."""
    who = text.clean(tenant, 40)
    burn = f"{money(rate_per_hour)}/h over the last {window}" if rate_per_hour else ""
    if not cap or cap <= 0:
        if spent is None and rate_per_hour is None:
            said = f"{who}: no spend recorded today; no daily cap set"
            return Forecast("no_data", said, short="no data")
        said = f"{who}: no daily cap set; {money(spent or 0.0)} today"
        return Forecast("no_cap", said + (f" at {burn}" if burn else ""), short="no cap set")
    limit = money(cap)
    if spent is None:
        if not rate_per_hour:
            said = f"{who}: no spend recorded today (daily cap {limit})"
            return Forecast("no_data", said, short="no data")
        spent = 0.0  # burning, but too new for a day's figure: count from nothing
    if spent >= cap:
        share = spent / cap * 100
        said = f"{who} is over its {limit} daily cap: {money(spent)} spent today ({share:.0f} %)"
        said += f"; its calls are refused ({burn})" if burn else "; its calls are refused"
        return Forecast("over", said, short=f"OVER CAP ({share:.0f} %)")
    if rate_per_hour is None:
        said = (
            f"{who}: {money(spent)} of its {limit} daily cap; no burn rate (no samples in "
            f"the last {window})"
        )
        return Forecast("no_rate", said, short=f"no burn rate ({window})")
    if rate_per_hour <= 0:
        said = f"{who} spends nothing now: within its {limit} daily cap today "
        said += f"({money(spent)} spent)"
        return Forecast("idle", said, short="idle, within cap")
    at = now + (cap - spent) / rate_per_hour * 3600
    midnight = end_of_day(now)
    if at < midnight:
        within = "within a minute" if at - now < 60 else f"in {_short(at - now)}"
        said = f"{who} crosses its {limit} daily cap at {hm(at)} UTC ({within}) at {burn}"
        return Forecast(
            "crossing",
            said,
            at,
            short=f"crosses {hm(at)} " + ("now" if at - now < 60 else f"in {_short(at - now)}"),
        )
    by_midnight = spent + rate_per_hour * (midnight - now) / 3600
    said = (
        f"{who} stays within its {limit} daily cap today: {money(by_midnight)} by 24:00 UTC "
        f"at {burn}"
    )
    return Forecast("within", said, short=f"ok: {money(by_midnight)} by 24:00")


def _short(seconds: float) -> str:
    """'1h12m', '35m': minutes are what an operator plans with."""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


@dataclass
class TenantSpend:
    tenant: str
    today: float | None  # USD since 00:00 UTC (None: no data)
    rate: float | None  # USD per hour over the rate window (None: no samples)
    cap: float | None  # USD per UTC day (None: no cap set, or caps unknown)
    forecast: Forecast
    own_cap: bool = False  # the tenant's own cap (budget tenant), not tenant_daily_cost_usd

    @property
    def share(self) -> float | None:
        """Spend today as a fraction of the cap."""
        if not self.cap or self.today is None:
            return None
        return self.today / self.cap


@dataclass
class AgentSpend:
    id: str
    tenant: str
    cost: float
    steps: int
    status: str
    model: str = ""


@dataclass
class SpendReport:
    tenants: list[TenantSpend] = field(default_factory=list)
    agents: list[AgentSpend] = field(default_factory=list)
    window: str = "2m"
    now: float = 0.0
    metrics_error: str | None = None  # Prometheus unreachable, or no cost-by-tenant metric
    redis_error: str | None = None  # caps and agents unknown
    redis_unreachable: bool = False  # that error is Redis not answering (CLI exit 3)
    default_cap: float = 0.0  # tenant_daily_cost_usd (0: none)
    agents_of: str | None = None  # the agents are this tenant's (None: the whole fleet's)
    source: str = "query"  # "recorded": read from the recording rules

    @property
    def headline(self) -> str:
        """The one sentence on top: the soonest crossing, or why there is no forecast."""
        if self.metrics_error:
            return f"no forecast: {self.metrics_error}"
        if not self.tenants:
            return "no spend recorded today"
        return self.tenants[0].forecast.text


def _values(*results: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for result in results:
        out.update(
            (k, v) for k, v in result.labels_series.items() if v is not None and math.isfinite(v)
        )
    return out


def _problem(results: list[Any]) -> str | None:
    """The first failure among query results (no data is an answer: nothing spent)."""
    failed = next((r for r in results if r.error_kind not in (None, "no_data")), None)
    if failed is None:
        return None
    kind = (failed.error_kind or "error").replace("_", " ")
    return f"Prometheus {kind}: {text.clean(failed.error, 120)}"


async def spend_report(
    metrics: MetricsService | None,
    plane: ControlPlane | None,
    *,
    top: int = 5,
    window: str | None = None,
    now: float | None = None,
    metrics_problem: str | None = None,
    agents_of: str | None = None,
) -> SpendReport:
    """Spend by tenant (the ``top`` burning fastest or spent most) with each cap and
    forecast, and the ``top`` most expensive agents. Never raises: a dead Prometheus or
    Redis comes back as ``metrics_error`` / ``redis_error`` with what is still known.
    ``agents_of``: the most expensive agents of that tenant only (its own index).
    At the rules' window the tenants' figures come from the recording rules (one series
    per tenant); without rule data, from the raw cost series (asked again a minute on)."""
    now = time.time() if now is None else now
    window = window or (metrics.rate_interval if metrics is not None else "2m")
    report = SpendReport(window=window, now=now)
    # Redis first: the tenants with their own cap are part of the question asked Prometheus
    try:
        caps, default_cap, agents, redis_error = await _caps_and_agents(plane, top, agents_of)
    except _Unreachable as exc:
        caps, default_cap, agents, redis_error = {}, 0.0, [], str(exc)
        report.redis_unreachable = True
    report.agents, report.redis_error, report.default_cap = agents, redis_error, default_cap
    report.agents_of = agents_of
    rates: dict[str, float] = {}
    spent: dict[str, float] = {}
    if metrics is None:
        report.metrics_error = metrics_problem or "metrics layer unavailable"
    elif metrics.settings.prometheus.preset != "agentconsole":
        report.metrics_error = (
            "spend by tenant needs agent_cost_usd_total{tenant} (the agentconsole preset)"
        )
    else:
        rules = metrics.reads_rules(RULES_KEY, window)
        found = await _spend_by_tenant(metrics, top, window, now, sorted(caps), rules)
        if rules and found[1] is None and not (found[0][0] and found[0][1]):
            # a rule without series (not loaded, not evaluated yet: an idle tenant's are 0,
            # not absent): the raw queries, and only those for a minute
            metrics.rules_empty(RULES_KEY)
            found = await _spend_by_tenant(metrics, top, window, now, sorted(caps), False)
        (rates, spent), problem = found
        report.source = "recorded" if metrics.reads_rules(RULES_KEY, window) else "query"
        if problem is not None:
            report.metrics_error = problem
    if report.metrics_error:
        return report
    rows = []
    for tenant in set(rates) | set(spent):
        cap = caps.get(tenant, default_cap) if redis_error is None else None
        rate, today = rates.get(tenant), spent.get(tenant)
        outlook = forecast(tenant, today, rate, cap, now, window=window)
        if redis_error is not None:
            so_far = f"{money(today)} today" if today is not None else "no spend today"
            outlook = Forecast(
                "unknown",
                f"{text.clean(tenant, 40)}: {so_far}; cap unknown ({redis_error})",
                short="cap unknown",
            )
        rows.append(TenantSpend(tenant, today, rate, cap or None, outlook, tenant in caps))
    rows.sort(key=lambda r: (r.forecast.rank, -(r.rate or 0.0), -(r.today or 0.0), r.tenant))
    report.tenants = rows[:top]
    return report


async def _caps_and_agents(
    plane: ControlPlane | None, top: int, tenant: str | None = None
) -> tuple[dict[str, float], float, list[AgentSpend], str | None]:
    """The tenants' own caps, the default tenant cap and the ``top`` agents by cost."""
    if plane is None:
        return {}, 0.0, [], "control plane unavailable"
    try:
        limits, caps, records = await asyncio.gather(
            plane.budgets.get(),
            plane.budgets.tenant_caps(),
            plane.agents.list(order="cost", limit=top, tenant=tenant or None),
        )
    except Exception as exc:
        from agentconsole.control.errors import Unavailable
        from agentconsole.control.plane import translate

        if isinstance(translate(exc), Unavailable):
            raise _Unreachable(_redis_problem(exc)) from None
        return {}, 0.0, [], _redis_problem(exc)
    agents = [AgentSpend(r.id, r.tenant, r.cost, r.steps, r.status, r.model) for r in records]
    return caps, float(limits.tenant_daily_cost_usd or 0.0), agents, None


async def _spend_by_tenant(
    metrics: MetricsService,
    top: int,
    window: str,
    now: float,
    caps: list[str],
    rules: bool,
) -> tuple[tuple[dict[str, float], dict[str, float]], str | None]:
    """(($/h now, $ today) by tenant, a problem): the ``top`` of each, the tenants with a
    cap of their own, and each top list's other half for those tenants."""
    from agentconsole.metrics.panels import render

    if rules:
        rate_q, today_q = RATE_RECORDED, render(TODAY_RECORDED, window, now)
        rate_m, today_m = RATE_RULE, TODAY_RULE
    else:
        rate_q, today_q = render(RATE_BY_TENANT, window, now), render(TODAY_BY_TENANT, window, now)
        rate_m = today_m = "agent_cost_usd_total"
    capped = caps[:MAX_CAPPED]  # a tenant with its own cap may be over it while
    # spending little: always asked about, by name (an index lookup, not a scan)
    pairs = ((rate_q, rate_m), (today_q, today_m))
    asks = [metrics.query(f"topk({top}, {q})", by="tenant") for q, _ in pairs]
    asks += [metrics.query(_only(q, capped, m), by="tenant") for q, m in pairs if capped]
    found = await asyncio.gather(*asks)
    problem = _problem(found)
    if problem is not None:
        return ({}, {}), problem
    rates, spent = _values(*found[0::2]), _values(*found[1::2])
    # each top list's other half, for those tenants only (each expression is
    # evaluated over every series once: the `today` one scans the day's samples)
    rest_rate, rest_today = sorted(set(spent) - set(rates)), sorted(set(rates) - set(spent))
    fill = [(rates, rate_q, rate_m, rest_rate), (spent, today_q, today_m, rest_today)]
    fill = [(into, q, m, names) for into, q, m, names in fill if names]
    more = await asyncio.gather(
        *(metrics.query(_only(q, names, m), by="tenant") for _, q, m, names in fill)
    )
    problem = _problem(list(more))
    for (into, _, _, _), result in zip(fill, more, strict=True):
        into.update(_values(result))
    return (rates, spent), problem


def _only(query: str, tenants: list[str], metric: str = "agent_cost_usd_total") -> str:
    """``query`` over these tenants' series of ``metric`` only (an exact-match regex,
    RE2-escaped)."""
    alternatives = "|".join(
        "".join("\\" + c if c in _RE2_SPECIAL else c for c in t) for t in tenants
    )
    matcher = metric + "{tenant=~" + json.dumps(alternatives) + "}"
    return query.replace(metric, matcher)


class _Unreachable(Exception):
    """Redis did not answer: the report says so, the CLI exits 3."""


def _redis_problem(exc: Exception) -> str:
    from agentconsole.control.plane import translate

    return text.clean(str(translate(exc) or exc), 120)


# --- the one table: the console's Spend view and `agentconsole spend` show these cells ------

TENANT_HEADERS = ("tenant", "today", "burn", "cap", "used", "forecast")
AGENT_HEADERS = ("agent", "tenant", "cost", "steps", "status")


def tenant_cells(row: TenantSpend) -> tuple[str, ...]:
    """TENANT, TODAY ($ since 00:00 UTC), BURN ($/h now), CAP (* its own), USED, FORECAST."""
    cap = "none" if not row.cap else money(row.cap) + ("*" if row.own_cap else "")
    if row.forecast.state == "unknown":
        cap = "?"
    used = "-" if row.share is None else f"{row.share * 100:.0f} %"
    return (
        text.clean(row.tenant, 40),
        "-" if row.today is None else money(row.today),
        "-" if row.rate is None else f"{money(row.rate)}/h",
        cap,
        used,
        row.forecast.short,
    )


def agent_cells(agent: AgentSpend) -> tuple[str, ...]:
    return (
        text.clean(agent.id, 40),
        text.clean(agent.tenant, 30),
        money(agent.cost),
        str(agent.steps),
        text.clean(agent.status, 12),
    )


def as_dict(report: SpendReport) -> dict[str, Any]:
    """The report as data (``--json``)."""
    return {
        "window": report.window,
        "now": report.now,
        "headline": report.headline,
        "metrics_error": report.metrics_error,
        "redis_error": report.redis_error,
        "default_cap": report.default_cap or None,
        "tenants": [
            {
                "tenant": t.tenant,
                "today": t.today,
                "rate_per_hour": t.rate,
                "cap": t.cap,
                "own_cap": t.own_cap,
                "state": t.forecast.state,
                "crosses_at": t.forecast.crosses_at,
                "forecast": t.forecast.text,
            }
            for t in report.tenants
        ],
        "agents_of": report.agents_of,
        "agents": [vars(a) for a in report.agents],
    }
