"""`agentconsole flags plan ...` and `agentconsole rollouts ...` against a real Redis."""

from __future__ import annotations

from tests.cli.conftest import assert_one_line


def test_plan_from_options_then_each_verb(cli):
    assert cli("flags", "create", "planner-v2").code == 0
    r = cli(
        "flags",
        "plan",
        "planner-v2",
        "--steps",
        "1,5,25,50,100",
        "--hold",
        "10m",
        "--guard",
        "error_rate:+0.5pt",
        "--guard",
        "p99:+20%",
        "--reason",
        "ship v2",
    )
    assert r.code == 0, r.err
    assert "plan of planner-v2: created (1% > 5% > 25% > 50% > 100%;" in r.out
    assert "guards error_rate:+0.5pt, p99_latency:+20%), not started" in r.out
    r = cli("--json", "flags", "plan-start", "planner-v2", "--reason", "go")
    doc = r.json()
    assert doc["state"] == "running" and doc["step"] == 0 and doc["hold_seconds"] == 600
    r = cli("rollouts", "pause", "planner-v2", "--reason", "look")
    assert r.out.strip() == "plan of planner-v2: paused at 1%"
    r = cli("flags", "plan-resume", "planner-v2", "--reason", "ok")
    assert "running at 1% (step 1 of 5), hold " in r.out
    r = cli("flags", "plan-advance", "planner-v2", "--reason", "by hand", "--yes")
    assert "running at 5% (step 2 of 5)" in r.out, r.err
    assert (
        "plan:         plan of planner-v2: running at 5%" in cli("flags", "show", "planner-v2").out
    )
    assert cli("flags", "plan-abort", "planner-v2", "--reason", "stop", "--yes").code == 0
    shown = cli("--json", "flags", "show", "planner-v2").json()
    assert shown["rollout_bp"] == 0 and shown["plan"]["state"] == "aborted"
    actions = [e["action"] for e in cli("audit", "tail", "--json").json()["entries"]]
    assert actions[1:] == [
        "rollout.create",
        "rollout.start",
        "rollout.pause",
        "rollout.resume",
        "rollout.advance",
        "rollout.abort",
    ]
    reasons = [e["reason"] for e in cli("audit", "tail", "--json").json()["entries"]][1:]
    assert reasons == ["ship v2", "go", "look", "ok", "by hand", "stop"]


def test_plan_from_yaml_and_status(cli, tmp_path):
    assert cli("flags", "create", "summary-v3").code == 0
    (tmp_path / "plan.yaml").write_text(
        "flag: summary-v3\nsteps: 5,50,100\nhold: 2m\nguards: [success_rate:-1pt]\n"
        "on_regression: last_good\nmin_runs: 50\n"
    )
    r = cli("--json", "rollouts", "plan", "--file", str(tmp_path / "plan.yaml"), "--start")
    doc = r.json()  # the last of the two outcomes: create, then start
    assert doc["flag"] == "summary-v3" and doc["state"] == "running"
    assert doc["hold_seconds"] == 120 and doc["on_regression"] == "last_good"
    out = cli("rollouts", "status").out
    assert "controller: none running" in out and "summary-v3" in out and "never" in out
    status = cli("--json", "rollouts", "status").json()
    assert status["lease"]["holder"] is None and status["plans"][0]["current"] == "5%"


def test_bad_plans_and_roles_answer_in_one_line(cli, tmp_path):
    cli("flags", "create", "f")
    for argv, why in (
        (("flags", "plan", "f", "--guard", "latency:+1"), "expected METRIC:LIMIT"),
        (("flags", "plan", "f", "--steps", "5,1,100", "--guard", "p99:+1"), "rise strictly"),
        (("flags", "plan", "f", "--hold", "soon", "--guard", "p99:+1"), "expected a duration"),
        (("flags", "plan", "f"), "at least one guard"),
        (("flags", "plan", "--guard", "p99:+1"), "give the flag"),
        (("flags", "plan", "f", "--file", str(tmp_path / "none.yaml")), "cannot read the plan"),
    ):
        r = cli(*argv)
        assert r.code in (1, 2) and why in r.err, (argv, r.err)
        assert_one_line(r)
    r = cli("flags", "plan", "f", "--guard", "p99:+20%", role="viewer")
    assert r.code == 1 and "rollout.create needs the responder role" in r.err
    r = cli("flags", "plan-start", "f")
    assert r.code == 1 and "has no rollout plan" in r.err


def test_tracked_flags(cli):
    cli("flags", "create", "search-cache")
    assert cli("flags", "update", "search-cache", "--tracked", "on").code == 0
    assert cli("--json", "flags", "show", "search-cache").json()["tracked"] is True
    assert "agents count its runs by variant" in cli("flags", "show", "search-cache").out


def test_controller_refuses_a_viewer_role(cli):
    r = cli("rollouts", "run", "--seconds", "0.1", role="viewer")
    assert r.code == 2 and "needs the responder role" in r.err


def test_status_names_running_plans_and_the_controller(cli):
    cli("flags", "create", "planner-v2")
    cli("flags", "plan", "planner-v2", "--guard", "error_rate:+1pt", "--start")
    out = cli("status").out
    assert "rollouts:" in out and "1 plan(s) running, 1 active; no controller running" in out
    assert "start agentconsole rollouts run" in out
    doc = cli("--json", "status").json()["rollouts"]
    assert doc == {"running": 1, "active": 1, "controller": None, "lease_seconds_left": None}
