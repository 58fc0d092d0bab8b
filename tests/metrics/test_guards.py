"""Rollout guards: the decision rule on numbers, then against a real Prometheus scraping the
SDK's own per-variant metrics (a feeder records known canary and control traffic)."""

from __future__ import annotations

import threading
import time

import pytest

from agentconsole.config import PrometheusSettings
from agentconsole.control.rollouts import Plan, parse_guard
from agentconsole.metrics.client import PromQL
from agentconsole.metrics.guards import GuardEvaluator, combine, judge, z_critical
from tests.fixtures.procs import free_port


def _plan(*guards: str, min_runs: int = 200) -> Plan:
    return Plan(steps_bp=[100, 10000], guards=[parse_guard(g) for g in guards], min_runs=min_runs)


def test_the_issue_example_is_a_clear_regression():
    plan = _plan("error_rate:+0.5pt")
    runs = {"on": 1240, "off": 3710}
    failures = {"on": 0.041 * 1240, "off": 0.006 * 3710}
    r = judge(plan.guards[0], plan, runs, failures)
    assert r.verdict == "fail" and r.z > z_critical(0.95)
    assert r.message.startswith("error rate canary 4.1 % vs control 0.6 %, 1,240 vs 3,710 runs")


def test_a_small_difference_within_noise_passes():
    plan = _plan("error_rate:+0.5pt")
    r = judge(plan.guards[0], plan, {"on": 300, "off": 3000}, {"on": 3, "off": 18})
    assert r.verdict == "pass"  # 1.0 % vs 0.6 %: 0.4 pt, inside +0.5 pt
    # worse than allowed as a point estimate, but not significantly so with 300 runs
    r = judge(plan.guards[0], plan, {"on": 300, "off": 3000}, {"on": 4, "off": 18})
    assert r.worse_by > r.allowed and r.verdict == "pass" and r.z < z_critical(0.95)


def test_success_rate_is_worse_downwards_and_relative_limits_scale():
    plan = _plan("success_rate:-1pt", "p99:+20%", "cost_per_run:+10%")
    success, p99, cost = plan.guards
    r = judge(success, plan, {"on": 2000, "off": 2000}, {"on": 1800, "off": 1980})
    assert r.verdict == "fail" and r.worse_by == pytest.approx(0.09)
    r = judge(success, plan, {"on": 2000, "off": 2000}, {"on": 1990, "off": 1980})
    assert r.verdict == "pass"  # better is never a regression
    assert judge(p99, plan, {"on": 500, "off": 500}, {"on": 1.1, "off": 1.0}).verdict == "pass"
    r = judge(p99, plan, {"on": 500, "off": 500}, {"on": 1.3, "off": 1.0})
    assert r.verdict == "fail" and r.allowed == pytest.approx(0.2)
    # totals are divided by runs: $0.05 vs $0.04 per run is +25 %
    assert judge(cost, plan, {"on": 500, "off": 1000}, {"on": 25, "off": 40}).verdict == "fail"


def test_too_few_runs_waits_and_says_how_many():
    plan = _plan("error_rate:+0.5pt")
    r = judge(plan.guards[0], plan, {"on": 37, "off": 5000}, {"on": 30, "off": 5})
    assert r.verdict == "wait"  # even a terrible canary is not judged blind
    assert "canary 37, control 5,000; 200 needed on each side" in r.message


def test_verdicts_combine_fail_over_error_over_wait_over_pass():
    plan = _plan("error_rate:+0.5pt")
    ok = judge(plan.guards[0], plan, {"on": 500, "off": 500}, {"on": 1, "off": 1})
    wait = judge(plan.guards[0], plan, {"on": 5, "off": 500}, {"on": 1, "off": 1})
    bad = judge(plan.guards[0], plan, {"on": 500, "off": 500}, {"on": 100, "off": 1})
    assert combine("f", 60, 0, [ok, ok]).verdict == "pass"
    assert combine("f", 60, 0, [ok, wait]).verdict == "wait"
    assert combine("f", 60, 0, [wait, bad]).verdict == "fail"
    assert combine("f", 60, 0, []).verdict == "wait"


# --- against a real Prometheus --------------------------------------------------------------

# per feeder tick (20 ms): flag -> (canary runs, canary failures, control runs, control failures)
TRAFFIC = {
    "bad-canary": (4, 1, 8, 0),  # canary fails 25 %, control 0 %
    "good-canary": (4, 0, 8, 0),
}
TRICKLE = "quiet-canary"  # one canary run a second: never enough to judge
VALUED = "valued-canary"  # variants named: the canary is every variant but off


@pytest.fixture(scope="module")
def variant_prometheus(tmp_path_factory):
    from prometheus_client import CollectorRegistry, start_http_server

    from agentconsole.agent.metrics import metrics_for
    from tests.fixtures.prometheus import start_prometheus

    registry = CollectorRegistry()
    m = metrics_for(registry)
    stop = threading.Event()

    def feed() -> None:
        tick = 0
        while not stop.wait(0.02):
            tick += 1
            for flag, (cr, cf, kr, kf) in TRAFFIC.items():
                for i in range(cr):
                    m.flag_run(flag, True, "failure" if i < cf else "success", 0.5, 1000, 0.01)
                for i in range(kr):
                    m.flag_run(flag, False, "failure" if i < kf else "success", 0.5, 1000, 0.01)
            # a flag with variants: cheap fails a quarter of its runs, standard none
            for i in range(4):
                m.flag_run(VALUED, "cheap", "failure" if i == 0 else "success", 0.5, 10, 0.01)
                m.flag_run(VALUED, "standard", "success", 0.5, 10, 0.01)
            for _ in range(8):
                m.flag_run(VALUED, "off", "success", 0.5, 10, 0.01)
            if tick % 50 == 0:
                m.flag_run(TRICKLE, True, "success", 0.5, 1000, 0.01)
            m.flag_run(TRICKLE, False, "success", 0.5, 1000, 0.01)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with start_prometheus(tmp_path_factory.mktemp("guards"), [f"127.0.0.1:{port}"]) as prom:
            prom.wait_for("count_over_time(agent_flag_runs_total[6s]) >= 6")
            yield prom
    finally:
        stop.set()
        feeder.join(2)
        server.shutdown()
        server.server_close()


def _evaluator(url: str) -> GuardEvaluator:
    return GuardEvaluator(PromQL(PrometheusSettings(url=url, timeout=3)), timeout=3)


async def test_live_guards_judge_canary_against_control(variant_prometheus):
    ev = _evaluator(variant_prometheus.url)
    plan = _plan("error_rate:+1pt", "p99:+20%", "tokens_per_run:+10%", min_runs=30)
    bad = await ev.evaluate("bad-canary", plan, 5, time.time())
    assert bad.verdict == "fail", bad.message
    error = next(g for g in bad.guards if g.metric == "error_rate")
    assert error.canary == pytest.approx(0.25, abs=0.03) and error.control == 0
    assert error.canary_runs >= 30 and error.control_runs >= 2 * error.canary_runs * 0.9
    assert 'increase(agent_flag_runs_total{flag="bad-canary"}[5s])' in error.promql["runs"]
    good = await ev.evaluate("good-canary", plan, 5, time.time())
    assert good.verdict == "pass", good.message
    assert {g.verdict for g in good.guards} == {"pass"}


async def test_live_guards_wait_for_traffic(variant_prometheus):
    ev = _evaluator(variant_prometheus.url)
    quiet = await ev.evaluate(TRICKLE, _plan("error_rate:+1pt", min_runs=30), 5, time.time())
    assert quiet.verdict == "wait" and "waiting for runs" in quiet.message
    nothing = await ev.evaluate("no-such-flag", _plan("error_rate:+1pt"), 5, time.time())
    assert nothing.verdict == "wait" and "canary 0, control 0" in nothing.message


async def test_prometheus_down_or_a_bad_answer_holds_and_says_why():
    ev = _evaluator(f"http://127.0.0.1:{free_port()}")
    down = await ev.evaluate("f", _plan("error_rate:+1pt"), 60, time.time())
    assert down.verdict == "error"
    assert "holding, Prometheus: cannot connect to http://127.0.0.1" in down.message
    assert down.guards[0].promql["runs"].startswith("sum by (variant)")


def test_extrapolated_counts_above_the_run_count_are_still_a_rate():
    """increase() extrapolates each series alone: successes can read above runs."""
    plan = _plan("success_rate:-2pt", min_runs=20)
    r = judge(plan.guards[0], plan, {"on": 44, "off": 370}, {"on": 44.6, "off": 371.2})
    assert r.verdict == "pass" and r.canary == 1.0 and r.control == 1.0


async def test_live_guards_read_every_served_variant_as_the_canary(variant_prometheus):
    ev = _evaluator(variant_prometheus.url)
    plan = _plan("error_rate:+1pt", "p99:+20%", min_runs=30)
    result = await ev.evaluate(VALUED, plan, 5, time.time())
    error = next(g for g in result.guards if g.metric == "error_rate")
    assert error.verdict == "fail" and error.canary == pytest.approx(0.125, abs=0.03)
    p99 = next(g for g in result.guards if g.metric == "p99_latency")
    assert p99.verdict == "pass" and p99.canary == pytest.approx(p99.control)


def test_by_variant_sums_every_served_variant_into_the_canary():
    from agentconsole.metrics.guards import by_variant

    rows = [
        {"metric": {"variant": "cheap"}, "value": [0, "30"]},
        {"metric": {"variant": "standard"}, "value": [0, "10"]},
        {"metric": {"variant": "off"}, "value": [0, "80"]},
        {"metric": {"variant": "on"}, "value": [0, "NaN"]},
    ]
    assert by_variant(rows) == {"on": 40.0, "off": 80.0}
