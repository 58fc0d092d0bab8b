"""One corpus of hostile input through every entry point: CLI arguments, config files,
values a buggy agent wrote into Redis, runbook files and panel definitions.

Every case must end in a clear error or a normal result. That means no traceback, at most
one line on stderr, and no raw control character reaching the terminal (escape sequences
and markup are data).
"""

from __future__ import annotations

import json

import pytest

from agentconsole.cli.main import main
from agentconsole.config import ConfigError

NASTY = [
    "",
    " ",
    "[bold red]boom[/]",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b[31mred\x1b]0;pwned\x07",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "a\x00b",
    "\u202eevil\u202c",
    "line1\nline2\rline3",
    "{{ labels.x }}",
    "$(rm -rf /)",
    "../../etc/passwd",
    "😀" * 50,
    "-1",
    "1e309",
    "NaN",
]
HUGE = "x" * 20_000
RAW_CONTROL = [chr(c) for c in range(32) if chr(c) not in "\n\t"] + ["\x7f", "\u202e"]
MAX_LINE = 2_000


def _check_terminal(out: str, err: str, *, human: bool = True) -> None:
    """No traceback; stderr is one-line messages (an error, or one warning per bad entry)."""
    assert "Traceback" not in out + err
    for line in err.strip().splitlines():
        assert len(line) <= MAX_LINE, f"an error line of {len(line)} characters"
    if human:
        for ch in RAW_CONTROL:
            assert ch not in out + err, f"raw {ch!r} reached the terminal"


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: exit 2 with one line
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(settings, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", settings.redis.url)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_PREFIX", settings.redis.prefix)
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "admin")
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "corpus")
    return settings


TEMPLATES = [
    ["flags", "create", "{}"],
    ["flags", "show", "{}"],
    ["flags", "rollout", "corpus-flag", "{}"],
    ["flags", "enable", "{}"],
    ["budgets", "set", "request_tokens", "{}"],
    ["budgets", "set", "{}", "10"],
    ["breakers", "trip", "{}", "--yes"],
    ["breakers", "trip", "dep", "--for", "{}", "--yes"],
    ["agents", "kill", "{}", "--yes"],
    ["agents", "kill", "--tenant", "{}", "--yes", "--reason", "{}"],
    ["audit", "tail", "-n", "{}"],
    ["acl", "generate", "--prefix", "{}"],
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: " ".join(t[:3]))
def test_cli_arguments(cli_env, capsys, template):
    main(["flags", "create", "corpus-flag"])
    for value in NASTY:
        argv = [value if part == "{}" else part for part in template]
        code, out, err = _run(argv, capsys)
        assert code in (0, 1, 2), (argv[:3], code)
        _check_terminal(out, err)
        if code:
            assert len(err.strip().splitlines()) == 1, err[:500]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: " ".join(t[:3]))
def test_cli_huge_argument_gives_a_bounded_line(cli_env, capsys, template):
    argv = [HUGE if part == "{}" else part for part in template]
    code, out, err = _run(argv, capsys)
    assert code in (1, 2)
    _check_terminal(out, err)


def test_acl_generate_huge_prefix_is_bounded(capsys):
    code, out, err = _run(["acl", "generate", "--prefix", HUGE], capsys)
    assert code == 2
    _check_terminal(out, err)


def _garbage_writes(keys) -> list[tuple]:
    """Commands a buggy agent (or a hostile one with write access) might leave behind."""
    bad_bytes = b"\xff\xfe\xc3\x28"
    agent = keys.agent("evil\x1b[31m")
    cmds: list[tuple] = [
        ("HSET", agent, "task", "\x1b[2J[bold]boom[/]\x00" + "x" * 5000),
        ("HSET", agent, "tenant", bad_bytes),
        ("HSET", agent, "steps", "many"),
        ("HSET", agent, "cost", "NaN"),
        ("HSET", agent, "heartbeat_at", "1e309"),
        ("HSET", agent, "status", "[red]hacked[/]"),
        ("ZADD", keys.partition_for("evil\x1b[31m").by_heartbeat, 1e12, "evil\x1b[31m"),
        ("ZADD", keys.partition_for("ghost-without-hash").by_tokens, 5, "ghost-without-hash"),
        ("ZADD", keys.partition(0).by_heartbeat, 2e12, bad_bytes),
        ("HSET", keys.flags, "json-garbage", "{not json"),
        ("HSET", keys.flags, "not-utf8", bad_bytes),
        ("HSET", keys.flags, "wrong-types", json.dumps({"name": 5, "rollout_bp": "lots"})),
        ("HSET", keys.flags, "a-list", "[1, 2]"),
        ("HSET", keys.flags, "\x1b[31mesc-name", json.dumps({"name": "\x1b[31mesc-name"})),
        ("HSET", keys.breakers, "dep", "null"),
        ("HSET", keys.breakers, "dep2", json.dumps({"dependency": "dep2", "until": "soon"})),
        ("HSET", keys.breaker_state, "dep", json.dumps({"state": "[b]open", "calls": "x"})),
        ("HSET", keys.breaker_state, "bytes", bad_bytes),
        ("HSET", keys.kills, "tenant:\x1b[2J", json.dumps({"reason": "\x1b]0;t\x07"})),
        ("HSET", keys.kills, "all-bytes", bad_bytes),
        ("HSET", keys.budgets, "limits", json.dumps({"request_tokens": "huge", "version": []})),
        ("HSET", keys.usage("2026-01-01"), "u\x00tokens", "lots"),
        ("XADD", keys.audit, "*", "actor", "\x1b[31mmallory", "after", "{bad", "ts", "x"),
        ("XADD", keys.audit, "*", "before", bad_bytes, "cp_version", "NaN"),
        ("SET", keys.version, "not-a-number"),
        ("HSET", keys.incidents, "inc", "{]"),
        ("HSET", keys.silences, "s1", bad_bytes),
    ]
    return cmds


READERS = [
    ["status"],
    ["flags", "list"],
    ["flags", "show", "wrong-types"],
    ["flags", "show", "not-utf8"],
    ["breakers", "list"],
    ["agents", "list"],
    ["agents", "top"],
    ["agents", "show", "evil\x1b[31m"],
    ["budgets", "show"],
    ["audit", "tail"],
    ["incidents", "list"],
    ["acl", "verify-audit"],
]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a))
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
async def test_buggy_agent_values_through_every_reader(plane, cli_env, capsys, argv, json_mode):
    for cmd in _garbage_writes(plane.keys):
        await plane.redis.execute_command(*cmd)
    import asyncio

    full = ["--json", *argv] if json_mode else argv
    code, out, err = await asyncio.to_thread(_run, full, capsys)
    assert code in (0, 1), (full, code, err[:300])
    _check_terminal(out, err, human=not json_mode)
    if json_mode and code == 0 and out.strip():
        json.loads(out)  # still valid JSON


CONFIGS = [
    "redis: 5\n",
    "redis:\n  url: 5\n",
    "redis:\n  url: http://example\n",
    "redis:\n  prefix: 'a{b}'\n",
    "redis:\n  connect_timeout: soon\n",
    "ui:\n  refresh_seconds: -1\n",
    "operator:\n  role: god\n",
    "panels: nope\n",
    "panels:\n  - 5\n",
    "prices:\n  m: [1, 2]\n",
    "\x1b[2J: 1\n",
    "[bold]x[/]: 1\n",
    "a: &a [1]\nb: *a\n",
    "key: [unclosed\n",
    "- a list\n- at the top\n",
    "x" * 50_000 + ": 1\n",
]


@pytest.mark.parametrize("text", CONFIGS, ids=range(len(CONFIGS)))
def test_config_files(tmp_path, monkeypatch, capsys, text):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    code, out, err = _run(["--config", str(path), "flags", "list"], capsys)
    assert code == 2, (text[:40], code, err[:200])
    _check_terminal(out, err)


def test_config_nan_refresh_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("ui:\n  refresh_seconds: .nan\n")
    code, _, _ = _run(["--config", str(path), "flags", "list"], capsys)
    assert code == 2


def test_config_file_not_utf8(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_bytes(b"redis:\n  prefix: \xff\xfe\n")
    code, out, err = _run(["--config", str(path), "flags", "list"], capsys)
    assert code == 2
    _check_terminal(out, err)


def test_runbook_parser_never_raises():
    from agentconsole.runbook.parser import parse

    fronts = ["", "---\n", "---\n: :\n---\n", "---\nid: [1\n---\n", "---\n- 1\n---\n"]
    for value in NASTY:
        texts = [
            value,
            f"---\nid: {json.dumps(value)}\ntitle: {json.dumps(value)}\n---\n## {value}\n",
            f"---\nid: x\ntitle: t\nalerts: [{json.dumps(value)}]\n---\n## s\n```promql\n"
            f"{value}\n```\n```action\n{value}\n```\n",
            *(f + value for f in fronts),
        ]
        for text in texts:
            runbook, problems = parse(text)
            assert runbook is not None or problems
            for p in problems:
                assert "Traceback" not in str(p)


def test_panel_definitions_are_config_errors():
    from agentconsole.metrics.panels import parse_panel

    shapes = [
        None,
        5,
        [],
        {},
        {"id": 5},
        {"id": "ok"},
        {"id": "ok", "query": 5},
        {"id": "ok", "query": "up", "unit": "furlongs"},
        {"id": "ok", "query": "up", "warn_margin": "lots"},
        {"id": "ok", "query": "up", "target": "fast"},
        {"id": "ok", "query": "up", "target": {"threshold": "x", "direction": "up"}},
        {"id": "ok", "query": "up", "by": "not a label"},
        {"id": "ok", "query": "up", "surprise": 1},
    ]
    shapes += [{"id": v} for v in [*NASTY, HUGE]] + [
        {"id": "ok", "query": v, "unit": v} for v in NASTY
    ]
    for raw in shapes:
        try:
            parse_panel(raw, "panels[0]")
        except ConfigError as exc:
            assert len(str(exc).splitlines()) == 1 or "\n" in repr(raw)


# --- a key of the wrong type, for every key kind keys.py builds ---------------------------

WRONG_TYPE_ARGS = {  # parameters that name things the readers below really touch
    "agent_id": "agent-1",
    "tenant": "acme",
    "status": "running",
    "version": "3",
    "kill_id": "k1",
    "dependency": "llm",
    "day": "TODAY",
    "incident_id": "inc-1",
    "change_id": "c1",
    "n": "0",
}


def _every_key(keys) -> dict[str, str]:
    """Every key a ``Keys`` builder (and every partition's builder) makes, by builder name."""
    import inspect

    from agentconsole.control.budgets import today
    from agentconsole.control.keys import Keys, PartitionKeys

    def builders(obj, cls, skip) -> dict[str, str]:
        out = {}
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") or name in skip:
                continue
            if isinstance(member, property):
                value = getattr(obj, name)
            elif inspect.isfunction(member):
                params = list(inspect.signature(member).parameters)[1:]
                args = [WRONG_TYPE_ARGS.get(p, "x").replace("TODAY", today()) for p in params]
                value = getattr(obj, name)(*args)
            else:
                continue
            if isinstance(value, str) and value.startswith("{"):
                out[name] = value
        return out

    found = builders(keys, Keys, {"tag", "prefix", "partitions", "events", "registry_pattern"})
    found.pop("partition", None)
    for name, key in builders(keys.partition_for("agent-1"), PartitionKeys, {"tag"}).items():
        found[f"partition.{name}"] = key
    return found


async def _fill_with_wrong_types(plane, skip: tuple[str, ...] = ("schema",)) -> list[str]:
    from agentconsole.control.registry import AgentRecord

    await plane.flags.create("good-flag")
    await plane.agents.register(AgentRecord(id="agent-2", task="fine", tenant="acme"))
    replaced = []
    for name, key in _every_key(plane.keys).items():
        if name in skip:
            continue
        await plane.redis.delete(key)
        await plane.redis.rpush(key, "a list is no type this schema uses")
        replaced.append(key)
    return replaced


LISTINGS = [["flags", "list"], ["breakers", "list"], ["agents", "list"], ["agents", "top"]]


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
async def test_a_wrong_type_key_of_every_kind_is_reported_and_skipped(
    plane, cli_env, capsys, json_mode
):
    import asyncio

    replaced = await _fill_with_wrong_types(plane)
    assert len(replaced) > 25  # every kind, partitions included
    for argv in READERS:
        full = ["--json", *argv] if json_mode else argv
        code, out, err = await asyncio.to_thread(_run, full, capsys)
        assert code in (0, 1), (full, code, err[:300])
        assert "WRONGTYPE" not in err and "Traceback" not in err, (full, err[:300])
        _check_terminal(out, err, human=not json_mode)
        if json_mode and code == 0 and out.strip():
            json.loads(out)
        if argv in LISTINGS:
            assert code == 0, (full, err[:300])  # every listing keeps working
    code, out, _ = await asyncio.to_thread(_run, ["--json", "status"], capsys)
    assert code == 1
    problems = "\n".join(json.loads(out)["problems"])
    for key in (plane.keys.flags, plane.keys.breakers, plane.keys.kills, plane.keys.version):
        assert f"{key}: holds the wrong type" in problems


async def test_a_wrong_type_schema_key_is_a_clear_schema_error(plane, cli_env, capsys):
    import asyncio

    await plane.redis.delete(plane.keys.schema)
    await plane.redis.hset(plane.keys.schema, "v", "1")
    code, _, err = await asyncio.to_thread(_run, ["flags", "list"], capsys)
    assert code == 1 and f"{plane.keys.schema}: holds the wrong type" in err


async def test_a_kill_over_a_wrong_type_running_index_applies_and_names_the_key(plane):
    """The kill's listing intersects each partition's running index with the heartbeat or
    tenant index: one of them holding a list skips that partition (reported), the kill is
    in force and the other partitions' agents are listed."""
    from agentconsole.control.operations import kill_and_wait
    from agentconsole.control.registry import AgentRecord

    records = [AgentRecord(id=f"wt-{i}", tenant="acme") for i in range(30)]
    await plane.agents.write_many(records)
    part = plane.keys.partition_for("wt-1")
    await plane.redis.delete(part.by_status("running"))
    await plane.redis.rpush(part.by_status("running"), "a list is no type this schema uses")
    out = await kill_and_wait(plane, [{"tenant": "acme"}], reason="wrong type", wait=0)
    expected = {r.id for r in records if plane.keys.partition_for(r.id) != part}
    assert set(out.data["agents"]) == expected
    kills, _ = await plane.kills.list()
    assert "tenant:acme" in kills
    assert any(
        "status:running or" in line and "holds the wrong type of value for ZINTER" in line
        for line in plane.redis.problems.since()
    )
