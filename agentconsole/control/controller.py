"""The rollout controller: judges every running plan each interval and acts like an operator.

It changes nothing an operator could not: it calls the same ``Rollouts`` methods, as its
own operator (``rollouts.actor``), with the evidence (guard values, run counts, PromQL) in
the plan and hence in the audit entry's ``after``. Only the holder of the lease acts
(``control/lease.py``); each decision is written with the flag version it judged, so a
change in between (an operator's, another controller's) wins and the plan is judged again.

Per running plan, in this order:
1. the flag no longer shows the plan's step (someone changed it by hand): pause the plan
   rather than fight them;
2. a guard is red: the plan's ``on_regression`` (pause, roll back to 0 %, or to the last
   good step);
3. a query failed or Prometheus is down: hold, say why;
4. too few runs on either side: hold, say how many;
5. all guards green and the hold has passed: advance (at the last step: complete);
6. otherwise hold, saying how long is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agentconsole.control.bucketing import format_bp
from agentconsole.control.errors import Conflict, ControlError
from agentconsole.control.lease import Lease
from agentconsole.control.rollouts import Plan, Rollouts, manual_change

if TYPE_CHECKING:
    from agentconsole.control.flags import Flag
    from agentconsole.control.plane import ControlPlane

log = logging.getLogger("agentconsole.rollouts")
LOST = "lost the lease while judging: the new holder decides"


class Evaluation(Protocol):
    verdict: str
    message: str

    def to_doc(self) -> dict[str, Any]: ...


class Evaluator(Protocol):
    async def evaluate(self, flag: str, plan: Plan, window: int, at: float) -> Evaluation: ...


@dataclass
class Decision:
    flag: str
    action: str  # advance, complete, rollback, pause, hold, wait, conflict, failed
    message: str


class Controller:
    def __init__(
        self,
        plane: ControlPlane,
        evaluator: Evaluator,
        *,
        interval: float | None = None,
        lease_seconds: float | None = None,
        min_window: float | None = None,
        holder: str | None = None,
        say: Any = None,
    ) -> None:
        cfg = plane.settings.rollouts
        self.plane = plane
        self.rollouts = Rollouts(plane)
        self.evaluator = evaluator
        self.interval = cfg.interval_seconds if interval is None else interval
        self.min_window = cfg.min_window_seconds if min_window is None else min_window
        self.lease = Lease(
            plane.redis,
            plane.keys,
            cfg.lease_seconds if lease_seconds is None else lease_seconds,
            holder,
        )
        self.say = say or (lambda text: log.info("%s", text))
        self.decisions: list[Decision] = []  # what this process decided, newest last
        self._said: dict[str, str] = {}
        self._problems_said: set[str] = set()

    # --- the loops ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the lease and judge plans until ``stop`` is set; hands the lease over on exit."""
        keeper = asyncio.create_task(self._keep_lease(stop))
        try:
            while not stop.is_set():
                if self.lease.held:
                    try:
                        await self.evaluate_all()
                    except Exception as exc:  # Redis away: say so, keep the loop alive
                        from agentconsole.control.plane import translate

                        err = translate(exc) or exc
                        self.say(f"cannot evaluate plans: {err}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        every = max(self.lease.seconds / 3, 0.05)
        told_standby = False
        while not stop.is_set():
            had = self.lease.held
            try:
                held = await self.lease.keep()
            except Exception as exc:
                held = False
                if had:
                    self.say(f"lost the lease (cannot renew it: {exc}); not acting")
            else:
                if held and not had:
                    self.say(f"holding the lease as {self.lease.holder}: acting on plans")
                    told_standby = False
                elif had and not held:
                    self.say("lost the lease to another controller; standing by")
                elif not held and not told_standby:
                    holder = None
                    with contextlib.suppress(Exception):  # only for the message
                        holder, _ttl = await self.lease.current_holder()
                    self.say(f"standing by: {holder or 'another controller'} holds the lease")
                    told_standby = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    # --- one pass ----------------------------------------------------------------------

    async def evaluate_all(self, now: float | None = None) -> list[Decision]:
        """Judge every running plan once (the caller holds the lease)."""
        out = []
        plans, problems = await self.rollouts.list_with_problems()
        for problem in problems:
            if problem not in self._problems_said:
                self._problems_said.add(problem)
                self.say(f"unreadable: {problem}")
        for flag, plan in plans:
            if plan.state != "running":
                continue
            if not self.lease.held:
                break  # lost it mid-pass: the new holder judges the rest
            try:
                decision = await self.evaluate(flag, plan, now)
            except Conflict:
                decision = Decision(flag.name, "conflict", "the flag changed meanwhile; next pass")
            except ControlError as exc:
                decision = Decision(flag.name, "failed", f"could not act: {exc}")
            except Exception as exc:  # one plan's surprise must not stop the others
                log.exception("evaluating %s", flag.name)
                decision = Decision(
                    flag.name, "failed", f"holding: unexpected {type(exc).__name__}: {exc}"
                )
            out.append(decision)
            self.decisions = [*self.decisions, decision][-200:]
            line = f"{decision.flag}: {decision.action}: {decision.message}"
            news = "hold left" if "hold left" in line else line  # a countdown is not news
            if self._said.get(decision.flag) != news:
                self._said[decision.flag] = news
                self.say(line)
        return out

    async def evaluate(self, flag: Flag, plan: Plan, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        name, version = flag.name, flag.version
        by_hand = manual_change(flag, plan)
        if by_hand and not self.lease.held:
            return Decision(name, "hold", LOST)
        if by_hand:
            reason = f"paused: {by_hand}; the controller does not fight a manual change"
            await self.rollouts.pause(name, reason=reason, expected_version=version)
            return await self._status(name, Decision(name, "pause", reason), None, plan, now)

        since = now - plan.step_started_at
        window = int(max(self.min_window, min(plan.window_seconds, since)))
        ev = await self.evaluator.evaluate(name, plan, window, now)
        evidence = {**ev.to_doc(), "flag_version": version, "holder": self.lease.holder}
        here = format_bp(plan.current_bp)
        acting = ev.verdict == "fail" or (ev.verdict == "pass" and plan.hold_left(now) <= 0)
        if acting and not self.lease.held:  # lost while Prometheus answered: not ours to do
            return Decision(name, "hold", LOST)

        if ev.verdict == "fail":
            if plan.on_regression == "pause":
                reason = f"{name} paused at {here}: {ev.message}"
                await self.rollouts.pause(
                    name, reason=reason, evidence=evidence, expected_version=version
                )
                decision = Decision(name, "pause", reason)
            else:
                last_good = plan.on_regression == "last_good" and plan.last_good >= 0
                to = format_bp(plan.last_good_bp if last_good else 0)
                reason = f"{name} rolled back from {here} to {to}: {ev.message}"
                await self.rollouts.rollback(
                    name,
                    reason=reason,
                    evidence=evidence,
                    expected_version=version,
                    to_last_good=last_good,
                )
                decision = Decision(name, "rollback", reason)
        elif ev.verdict == "error":
            decision = Decision(name, "hold", f"holding at {here}: {ev.message}")
        elif ev.verdict == "wait":
            decision = Decision(name, "wait", f"holding at {here}: {ev.message}")
        elif plan.hold_left(now) > 0:
            left = plan.hold_left(now)
            decision = Decision(name, "hold", f"at {here}, {left:.0f} s of hold left; guards green")
        else:
            nxt = format_bp(plan.steps_bp[plan.step + 1])
            done = plan.step + 1 == len(plan.steps_bp) - 1
            reason = (
                f"{name} {'completed' if done else 'advanced'} from {here} to {nxt}: hold of "
                f"{plan.hold_seconds:.0f} s passed, {ev.message}"
            )
            await self.rollouts.advance(
                name, reason=reason, evidence=evidence, expected_version=version
            )
            decision = Decision(name, "complete" if done else "advance", reason)
        return await self._status(name, decision, ev, plan, now)

    async def _status(
        self, name: str, decision: Decision, ev: Evaluation | None, plan: Plan, now: float
    ) -> Decision:
        """The latest evaluation for the console (not audited: rewritten every interval)."""
        doc = {
            "at": now,
            "holder": self.lease.holder,
            "action": decision.action,
            "message": decision.message,
            "hold_left": plan.hold_left(now),
            "evaluation": ev.to_doc() if ev is not None else None,
        }
        await self.plane.redis.hset(self.plane.keys.rollout_status, name, json.dumps(doc))
        return decision


async def read_status(plane: ControlPlane) -> dict[str, dict[str, Any]]:
    """The controller's latest evaluation of each plan, by flag name (lenient: display only)."""
    from agentconsole.control import codec

    raw = await plane.redis.hgetall(plane.keys.rollout_status)
    out = {}
    for key, value in raw.items():
        with contextlib.suppress(ControlError):
            doc = codec.document(value, "rollout status")
            if doc is not None:
                out[codec.lenient_text(key)] = doc
    return out
