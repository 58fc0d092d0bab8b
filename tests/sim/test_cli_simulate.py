from agentconsole.cli.main import main


def test_simulate_command_runs_and_prints_summaries(settings, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", settings.redis.url)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PREFIX", settings.redis.prefix)
    code = main(["simulate", "--agents", "5", "--seconds", "1", "--summary-every", "0.4"])
    out = capsys.readouterr().out
    assert code == 0
    assert "simulating 5 agents" in out and "scenario=steady" in out


def test_simulate_rejects_bad_arguments(settings, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", settings.redis.url)
    assert main(["simulate", "--agents", "0"]) == 2
    assert "--agents" in capsys.readouterr().err


def test_cli_lists_every_scenario():
    from agentconsole.cli.simulate import SCENARIOS
    from agentconsole.sim.scenarios import NAMES

    assert tuple(SCENARIOS) == tuple(NAMES)
