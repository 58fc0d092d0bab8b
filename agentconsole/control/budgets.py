"""Token and cost budgets: live limits, and an atomic reserve-then-commit in Lua.

An agent reserves its estimated tokens and cost before a call; the script refuses when the
per-request limit or the user's daily limits would be passed, counting both what was used
and what other agents hold in reservations, so concurrent agents cannot overshoot.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec, lua
from agentconsole.control.errors import AlreadyExists, ControlError, InvalidValue

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane

MICRO = 1_000_000
RESERVATION_TTL = 300


@dataclass
class Limits:
    request_tokens: int = 4000
    user_daily_tokens: int = 50000
    user_daily_cost_usd: float = 5.0
    run_max_steps: int = 50
    run_max_seconds: float = 600.0
    # Spend caps (0: none). The fleet's is a target the console's panels measure against;
    # a tenant's refuses its agents' calls once its day's cost reaches it (its own cap,
    # `budget tenant`, replaces this one for that tenant) and the Spend view forecasts it.
    fleet_daily_cost_usd: float = 0.0
    tenant_daily_cost_usd: float = 0.0
    changed_by: str = ""
    changed_at: float = 0.0
    version: int = 0


LIMIT_NAMES = (
    "request_tokens",
    "user_daily_tokens",
    "user_daily_cost_usd",
    "run_max_steps",
    "run_max_seconds",
    "fleet_daily_cost_usd",
    "tenant_daily_cost_usd",
)
LIMIT_UNITS = {
    "request_tokens": "tokens per request",
    "user_daily_tokens": "tokens per user per day",
    "user_daily_cost_usd": "USD per user per day",
    "run_max_steps": "steps per run",
    "run_max_seconds": "seconds per run",
    "fleet_daily_cost_usd": "USD per day, whole fleet (panel target; 0 = none)",
    "tenant_daily_cost_usd": "USD per tenant per day (calls refused past it; 0 = none)",
}


TENANT_CAP = "tenant:"  # budgets hash field of one tenant's own daily cap: "tenant:globex"


def tenant_cap_field(tenant: str) -> str:
    return TENANT_CAP + tenant


def format_limit(name: str, value: float) -> str:
    """A limit as people read it: '$7.5', '60,000', '50'."""
    if name.endswith("_usd"):
        return f"${value:g}"
    return f"{value:,.0f}" if value >= 1000 else f"{value:g}"


class BudgetExceeded(ControlError):
    """Which limit would be passed, its value, and what was already used."""

    def __init__(self, limit: str, value: float, used: float, asked: float) -> None:
        super().__init__(
            f"budget exceeded: {limit} is {value:g}, already used {used:g}, asked {asked:g}"
        )
        self.limit, self.value, self.used, self.asked = limit, value, used, asked


@dataclass
class Reservation:
    member: str
    user: str
    day: str
    tokens: int
    cost_micros: int
    tenant: str = ""  # its day's cost counts against the tenant's daily cap


@dataclass(frozen=True)
class DayTotals:
    """After a commit: the user's day, and the tenant's day against its cap (0: none)."""

    tokens: int
    cost_usd: float
    tenant_cost_usd: float = 0.0
    tenant_cap_usd: float = 0.0

    @property
    def tenant_over(self) -> bool:
        return self.tenant_cap_usd > 0 and self.tenant_cost_usd >= self.tenant_cap_usd


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def normalise_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    aliases = {"user_daily_cost": "user_daily_cost_usd", "request": "request_tokens"}
    key = aliases.get(key, key)
    if key not in LIMIT_NAMES:
        raise InvalidValue(f"unknown budget {name!r}: expected one of {', '.join(LIMIT_NAMES)}")
    return key


class Budgets:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._reserve = lua.register(plane.redis, "budget_reserve")
        self._commit = lua.register(plane.redis, "budget_commit")

    def defaults(self) -> Limits:
        d = self.plane.settings.budgets
        return Limits(
            request_tokens=d.request_tokens,
            user_daily_tokens=d.user_daily_tokens,
            user_daily_cost_usd=d.user_daily_cost_usd,
            run_max_steps=d.run_max_steps,
            run_max_seconds=d.run_max_seconds,
            fleet_daily_cost_usd=d.fleet_daily_cost_usd,
            tenant_daily_cost_usd=d.tenant_daily_cost_usd,
        )

    async def get(self) -> Limits:
        raw = await self.plane.redis.hget(self.plane.keys.budgets, "limits")
        doc = codec.document(raw, "budget limits")
        limits = self.defaults()
        if doc:
            for name in (*LIMIT_NAMES, "changed_by", "changed_at", "version"):
                if name in doc:
                    kind = type(getattr(limits, name))
                    try:
                        setattr(limits, name, kind(doc[name]))
                    except (TypeError, ValueError):
                        continue
        return limits

    async def set(
        self,
        name: str,
        value: str | float,
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Limits:
        """Change one limit; against ``expected_version`` when given (else the one just read)."""
        self.plane.operator.require("budget.set")
        key = normalise_name(name)
        current = await self.get()
        kind = type(getattr(current, key))
        try:
            number = kind(float(value)) if kind is int else kind(value)
            if kind is int and float(value) != int(float(value)):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise InvalidValue(
                f"{key} must be a {'whole ' if kind is int else ''}number, got {value!r}"
            ) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise InvalidValue(f"{key} must be a finite number, got {value!r}")
        if number < 0:
            raise InvalidValue(f"{key} cannot be negative, got {value}")
        doc = asdict(current) | {
            key: number,
            "changed_by": self.plane.operator.name,
            "changed_at": time.time(),
        }
        try:
            change = await self.plane.apply(
                hash_key=self.plane.keys.budgets,
                field="limits",
                entity="budget",
                action="budget.set",
                new_doc=doc,
                expected_version=(
                    current.version if expected_version is None else expected_version
                ),
                reason=reason,
            )
        except AlreadyExists as exc:
            from agentconsole.control.plane import lost_race

            raise lost_race("budget", "limits", exc) from None
        return Limits(
            **{k: v for k, v in (change.doc or {}).items() if k in Limits.__annotations__}
        )

    async def tenant_caps(self, tenants: list[str] | None = None) -> dict[str, float]:
        """The daily caps set with ``budget tenant`` for these tenants (one HMGET: the cost
        grows with the tenants asked about, the top N on screen), or for every tenant that
        has one (``None``: the budgets hash holds only the limits and these caps)."""
        key = self.plane.keys.budgets
        if tenants is None:
            raw_all = await self.plane.redis.hgetall(key)
            pairs: list[tuple[str, Any]] = [
                (name[len(TENANT_CAP) :], value)
                for name, value in ((codec.lenient_text(k), v) for k, v in raw_all.items())
                if name.startswith(TENANT_CAP)
            ]
        elif tenants:
            values = await self.plane.redis.hmget(key, [tenant_cap_field(t) for t in tenants])
            pairs = list(zip(tenants, values, strict=True))
        else:
            return {}
        caps = {}
        for tenant, value in pairs:
            doc = codec.document(value, f"daily cap of tenant {tenant}") if value else None
            usd = (doc or {}).get("usd")
            if isinstance(usd, int | float) and not isinstance(usd, bool) and usd > 0:
                caps[tenant] = float(usd)
        return caps

    async def set_tenant_cap(
        self, tenant: str, usd: float, *, reason: str = ""
    ) -> tuple[float | None, float | None]:
        """Give ``tenant`` its own daily spend cap in USD; 0 removes it (the tenant is then
        held to ``tenant_daily_cost_usd``). Its agents' calls are refused once the tenant's
        day reaches it (budget_reserve.lua); the Spend view forecasts it. Returns (cap
        before, cap after), None for none."""
        self.plane.operator.require("budget.tenant")
        if usd != usd or usd in (float("inf"), float("-inf")) or usd < 0:
            raise InvalidValue(f"a tenant's daily cap must be finite, 0 or more, got {usd}")
        field = tenant_cap_field(tenant)
        raw = await self.plane.redis.hget(self.plane.keys.budgets, field)
        current = codec.document(raw, f"daily cap of tenant {tenant}") if raw else None
        before = (current or {}).get("usd")
        if current is None and usd == 0:
            return None, None  # nothing to remove
        doc = None
        if usd > 0:
            doc = {
                "tenant": tenant,
                "usd": float(usd),
                "changed_by": self.plane.operator.name,
                "changed_at": time.time(),
            }
        try:
            await self.plane.apply(
                hash_key=self.plane.keys.budgets,
                field=field,
                entity="tenant_cap",
                action="budget.tenant",
                new_doc=doc,
                expected_version=int((current or {}).get("version") or 0),
                reason=reason,
            )
        except AlreadyExists as exc:
            from agentconsole.control.plane import lost_race

            raise lost_race("tenant cap", tenant, exc) from None
        return (float(before) if before else None), (float(usd) if usd > 0 else None)

    async def reserve(
        self, user: str, tokens: int, cost_usd: float, tenant: str = ""
    ) -> Reservation:
        """Hold ``tokens`` and ``cost_usd`` for ``user`` today or raise BudgetExceeded; with
        ``tenant``, also refused once the tenant's day has reached its daily cap (its own,
        ``budget tenant``, or ``tenant_daily_cost_usd``)."""
        if tokens < 0 or cost_usd < 0:
            raise InvalidValue("a reservation cannot be negative")
        d, k = self.defaults(), self.plane.keys
        day = today()
        rid = uuid.uuid4().hex[:16]
        cost_micros = round(cost_usd * MICRO)
        status, limit, used = await self._reserve(
            keys=[k.budgets, k.usage(day), k.reservations(day)],
            args=[
                user,
                tokens,
                cost_micros,
                rid,
                int(time.time()),
                RESERVATION_TTL,
                d.request_tokens,
                d.user_daily_tokens,
                round(d.user_daily_cost_usd * MICRO),
                tenant,
                round(d.tenant_daily_cost_usd * MICRO),
            ],
        )
        status = codec.text(status, "budget status") or ""  # the script always answers
        if status == "ok":
            member = f"{rid}|{user}|{tokens}|{cost_micros}"
            return Reservation(member, user, day, tokens, cost_micros, tenant)
        if status == "user_daily_cost":
            raise BudgetExceeded("user_daily_cost_usd", limit / MICRO, used / MICRO, cost_usd)
        if status == "tenant_daily_cost":
            raise BudgetExceeded("tenant_daily_cost_usd", limit / MICRO, used / MICRO, cost_usd)
        raise BudgetExceeded(status, limit, used, tokens)

    async def commit(self, reservation: Reservation, tokens: int, cost_usd: float) -> DayTotals:
        """Settle with what was really used; returns the day's totals (user, tenant)."""
        k = self.plane.keys
        totals = await self._commit(
            keys=[k.usage(reservation.day), k.reservations(reservation.day), k.budgets],
            args=[
                reservation.member,
                reservation.user,
                int(tokens),
                round(cost_usd * MICRO),
                reservation.tenant,
                round(self.defaults().tenant_daily_cost_usd * MICRO),
            ],
        )
        values = [int(v) for v in totals] + [0, 0]
        return DayTotals(values[0], values[1] / MICRO, values[2] / MICRO, values[3] / MICRO)

    async def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused (the call failed before using anything)."""
        await self.commit(reservation, 0, 0.0)

    async def usage(self, day: str | None = None) -> dict[str, dict[str, Any]]:
        """Per user: tokens and cost used today, and what is currently reserved."""
        raw = await self.plane.redis.hgetall(self.plane.keys.usage(day or today()))
        out: dict[str, dict[str, Any]] = {}
        names = {
            "tokens": "tokens",
            "cost": "cost_usd",
            "rtokens": "reserved_tokens",
            "rcost": "reserved_cost_usd",
        }
        for field, value in raw.items():
            user, _, kind = codec.lenient_text(field).rpartition("\0")
            if kind not in names:
                continue
            number = codec.number(value)
            if kind in ("cost", "rcost"):
                number /= MICRO
            out.setdefault(user, {})[names[kind]] = number
        return out
