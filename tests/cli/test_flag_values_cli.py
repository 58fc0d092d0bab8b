"""`flags variants|weights|payload|override|constrain|eval|export|import` through the real CLI."""

from __future__ import annotations

import yaml

from tests.cli.conftest import assert_one_line


def _model_tier(cli) -> None:
    assert cli("flags", "create", "model-tier", "--enabled", "--stickiness", "tenant").code == 0
    r = cli(
        "flags",
        "variants",
        "model-tier",
        "standard=100",
        "cheap=0",
        "--value-type",
        "string",
        "--payload",
        "standard=gpt-4o",
        "--payload",
        "cheap=gpt-4o-mini",
        "--reason",
        "two tiers",
    )
    assert r.code == 0, r.err
    assert 'variant cheap added: weight 0, payload "gpt-4o-mini"' in r.out


def test_override_a_tenant_with_a_space_and_eval_shows_the_variant(cli):
    _model_tier(cli)
    r = cli(
        "flags", "override", "model-tier", "tenant", "globex corp", "cheap", "--reason", "spend"
    )
    assert r.code == 0, r.err
    assert "override tenant 'globex corp' → cheap" in r.out
    r = cli("flags", "eval", "model-tier", "globex corp", "acme", "--json")
    results = {x["key"]: x for x in r.json()["results"]}
    assert results["globex corp"]["variant"] == "cheap"
    assert results["globex corp"]["payload"] == "gpt-4o-mini"
    assert "override" in results["globex corp"]["why"]
    assert results["acme"]["variant"] == "standard"
    r = cli("flags", "override", "model-tier", "tenant", "globex corp", "--clear")
    assert "removed (was cheap; back to the weights)" in r.out
    entries = cli("audit", "tail", "--json").json()["entries"]
    actions = [e["action"] for e in entries]
    assert actions.count("flag.override") == 2
    table = cli("audit", "tail").out
    assert "override tenant 'globex corp' → cheap" in table


def test_a_payload_of_the_wrong_type_is_refused_and_nothing_changes(cli):
    cli("flags", "create", "max-tokens", "--enabled")
    r = cli(
        "flags",
        "variants",
        "max-tokens",
        "normal=1",
        "--value-type",
        "number",
        "--payload",
        "normal=4096",
    )
    assert r.code == 0, r.err
    before = cli("flags", "show", "max-tokens", "--json").json()
    r = cli("flags", "payload", "max-tokens", "normal", "lots")
    assert r.code == 1
    assert_one_line(r)
    assert "must be a number" in r.err
    assert cli("flags", "show", "max-tokens", "--json").json() == before


def test_constraints_from_the_command_line_gate_eval(cli):
    _model_tier(cli)
    r = cli("flags", "constrain", "model-tier", "region IN eu,us", "sdk_version SEMVER_GT 1.2.0")
    assert r.code == 0, r.err
    assert "constraint added: region IN eu,us" in r.out
    r = cli(
        "flags",
        "eval",
        "model-tier",
        "acme",
        "--context",
        "region=eu",
        "--context",
        "sdk_version=1.3.0",
        "--json",
    )
    assert r.json()["results"][0]["variant"] == "standard"
    r = cli("flags", "eval", "model-tier", "acme", "--context", "region=ap", "--json")
    assert r.json()["results"][0] == {
        "key": "acme",
        "on": False,
        "variant": None,
        "payload": None,
        "why": "a constraint does not hold",
    }
    bad = cli("flags", "constrain", "model-tier", "region LIKE eu")
    assert bad.code == 2 and "unknown operator" in bad.err  # the grammar refuses: usage


def test_export_import_round_trip_with_dry_run_and_compare_and_set(cli, tmp_path):
    _model_tier(cli)
    cli("flags", "override", "model-tier", "tenant", "globex corp", "cheap")
    cli("flags", "constrain", "model-tier", "environment NOT IN dev")
    cli("flags", "create", "plain", "--enabled", "--rollout", "12.5")
    exported = tmp_path / "flags.yaml"
    assert cli("flags", "export", "-o", str(exported)).code == 0
    text = exported.read_text()
    doc = yaml.safe_load(text)
    assert set(doc["flags"]) == {"model-tier", "plain"}
    assert doc["flags"]["plain"]["rollout"] == "12.5%"
    # unchanged: importing what was exported changes nothing
    r = cli("flags", "import", str(exported))
    assert r.code == 0, r.err + r.out
    assert [s["kind"] for s in cli("flags", "import", str(exported), "--json").json()["steps"]] == [
        "unchanged",
        "unchanged",
    ]
    # a reviewed edit in git: globex back, cheap at 10 %; the dry run shows it, writes nothing
    doc["flags"]["model-tier"]["variants"][0]["weight"] = 90
    doc["flags"]["model-tier"]["variants"][1]["weight"] = 10
    del doc["flags"]["model-tier"]["variants"][1]["overrides"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = cli("flags", "show", "model-tier", "--json").json()
    r = cli("flags", "import", str(edited), "--dry-run")
    assert r.code == 0, r.err
    assert "variant cheap: weight 0 → 10" in r.out
    assert "override tenant 'globex corp' removed" in r.out and "dry run" in r.out
    assert cli("flags", "show", "model-tier", "--json").json() == before
    r = cli("flags", "import", str(edited), "--reason", "reviewed in PR 12")
    assert r.code == 0, r.err + r.out
    after = cli("flags", "show", "model-tier", "--json").json()
    assert after["version"] == before["version"] + 1
    assert [v["weight"] for v in after["variants"]] == [90, 10]
    # the same file again is now stale: compare-and-set refuses it, nothing written
    cli("flags", "weights", "model-tier", "standard=50", "cheap=50")
    r = cli("flags", "import", str(edited))
    assert r.code == 1 and "conflict" in r.out
    assert [
        v["weight"] for v in cli("flags", "show", "model-tier", "--json").json()["variants"]
    ] == [
        50,
        50,
    ]
    # round trip: export, import into a fresh flag set, export again: the same flags
    again = tmp_path / "again.yaml"
    cli("flags", "export", "-o", str(again))
    for name in ("model-tier", "plain"):
        cli("flags", "delete", name, "--yes")
    fresh = yaml.safe_load(again.read_text())
    for entry in fresh["flags"].values():
        del entry["version"]
    new_file = tmp_path / "new.yaml"
    new_file.write_text(yaml.safe_dump(fresh, sort_keys=False))
    r = cli("flags", "import", str(new_file))
    assert r.code == 0, r.err + r.out
    final = yaml.safe_load(cli("flags", "export").out)
    for entry in final["flags"].values():
        del entry["version"]
    assert final == fresh


def test_import_refuses_bad_files_in_one_line(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flags:\n  x:\n    enabled: yes please\n")
    r = cli("flags", "import", str(bad))
    assert r.code == 1 and "enabled must be true or false" in r.err
    assert_one_line(r)
    bad.write_text("flags:\n  x:\n    rolout: 5\n")
    r = cli("flags", "import", str(bad))
    assert "unknown key(s) rolout" in r.err
    bad.write_text("flags: [\n")
    assert "not valid YAML" in cli("flags", "import", str(bad)).err
    bad.write_text(
        "flags:\n  x:\n    value_type: number\n    variants:\n    - {name: a, payload: big}\n"
    )
    r = cli("flags", "import", str(bad))
    assert "payload must be a number" in r.err
    assert cli("flags", "list", "--json").json()["flags"] == []


def test_every_command_has_help(cli):
    """argparse formats help with %: one stray "0 %" in any row broke `flags --help`."""
    import argparse

    from agentconsole.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        assert parser.format_help(), path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")

    walk(build_parser(), "agentconsole")
    assert cli("flags", "--help").code == 0


def test_import_needs_an_admin_and_a_stale_override_is_a_conflict(cli, tmp_path):
    _model_tier(cli)
    exported = tmp_path / "flags.yaml"
    cli("flags", "export", "-o", str(exported))
    doc = yaml.safe_load(exported.read_text())
    doc["flags"]["model-tier"]["enabled"] = False
    exported.write_text(yaml.safe_dump(doc))
    r = cli("flags", "import", str(exported), role="responder")
    assert r.code == 1 and "flag.import needs the admin role" in r.err
    assert cli("flags", "show", "model-tier", "--json").json()["enabled"] is True
    version = cli("flags", "show", "model-tier", "--json").json()["version"]
    cli("flags", "weights", "model-tier", "standard=90", "cheap=10")  # someone else, meanwhile
    r = cli(
        "flags", "override", "model-tier", "tenant", "globex", "cheap",
        "--expect-version", str(version), role="responder",
    )  # fmt: skip
    assert r.code == 1 and "was changed by alice" in r.err
    assert_one_line(r)


def test_import_prune_deletes_what_the_file_does_not_name(cli, tmp_path):
    _model_tier(cli)
    cli("flags", "create", "old-experiment", "--enabled")
    exported = tmp_path / "flags.yaml"
    cli("flags", "export", "model-tier", "-o", str(exported))
    r = cli("flags", "import", str(exported), "--prune", "--dry-run")
    assert r.code == 0 and "delete    old-experiment" in r.out and "deleted (was on" in r.out
    assert {f["name"] for f in cli("flags", "list", "--json").json()["flags"]} == {
        "model-tier",
        "old-experiment",
    }
    r = cli("flags", "import", str(exported), "--prune", "--reason", "flags live in git")
    assert r.code == 0, r.err + r.out
    assert [f["name"] for f in cli("flags", "list", "--json").json()["flags"]] == ["model-tier"]
    entry = cli("audit", "tail", "-n", "1", "--json").json()["entries"][0]
    assert (entry["action"], entry["target"], entry["reason"]) == (
        "flag.delete",
        "old-experiment",
        "flags live in git",
    )


def test_agentconsole_do_moves_a_tenant(cli):
    _model_tier(cli)
    r = cli(
        "do", "--reason", "spend", "--yes",
        "tenant", "move", "globex corp", "model-tier", "cheap", role="responder",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert "override tenant 'globex corp' → cheap" in r.out
    assert "globex corp has no running agent" in r.out
    r = cli("flags", "eval", "model-tier", "globex corp", "--json")
    assert r.json()["results"][0]["variant"] == "cheap"
