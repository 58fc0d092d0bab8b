from agentconsole.runbook.parser import parse
from tests.runbook.helpers import GOOD, runbook_text


def test_good_runbook_parses_with_line_numbers():
    runbook, problems = parse(GOOD, "demo.md")
    assert problems == []
    assert runbook is not None
    assert (runbook.id, runbook.severity, runbook.version) == ("demo", "critical", "2")
    assert runbook.alerts == ["DependencyBreakerOpen"]
    assert [s.title for s in runbook.steps] == ["Meaning", "Diagnosis", "Mitigation", "Verify"]
    assert [s.line for s in runbook.steps] == [12, 16, 25, 32]
    promql = runbook.step(2).of_kind("promql")[0]
    assert promql.line == 19  # first line inside the fence
    actions = runbook.step(3).of_kind("action")[0]
    assert actions.numbered() == [
        (28, "breaker trip {{ labels.dependency }} for 15m"),
        (29, "flag disable new-planner"),
    ]
    assert runbook.step(4).is_verify
    assert runbook.meta_lines["alerts"] == 4
    assert runbook.preamble[0].body == "Intro for {{ labels.dependency }}."


def test_headings_inside_fences_are_not_steps():
    text = runbook_text("## One\n\n```\n## not a step\n```\n\n### sub is text\n")
    runbook, problems = parse(text)
    assert problems == []
    assert [s.title for s in runbook.steps] == ["One"]
    assert runbook.step(1).blocks[0].kind == "code"


def test_broken_yaml_reports_its_line():
    text = "---\nid: demo\ntitle: [unclosed\nseverity: info\n---\n## A\nx\n"
    runbook, problems = parse(text, "bad.md")
    assert runbook is None
    assert len(problems) == 1
    assert problems[0].path == "bad.md"
    assert problems[0].line in (3, 4)
    assert "not valid YAML" in problems[0].message


def test_missing_front_matter():
    runbook, problems = parse("## Step\ntext\n", "x.md")
    assert runbook is None
    assert str(problems[0]) == "x.md:1: missing front matter: the file must start with ---"


def test_unclosed_front_matter_and_fence():
    _, problems = parse("---\nid: x\n", "x.md")
    assert "not closed" in problems[0].message
    _, problems = parse(runbook_text("## A\n```promql\nup\n"), "demo.md")
    assert [(p.line, p.message) for p in problems] == [
        (10, "code block opened here is never closed")
    ]


def test_missing_and_bad_fields():
    front = "id: Demo_X\ntitle: 3\nseverity: urgent\nalerts: [1, 2]\ncolour: red\n"
    _, problems = parse(runbook_text("## A\nx\n", front), "demo.md")
    text = "\n".join(str(p) for p in problems)
    assert "missing field 'owner'" in text
    assert "missing field 'version'" in text
    assert "unknown field 'colour'" in text
    assert "severity must be one of" in text
    assert "alerts must be a list" in text
    assert "id 'Demo_X' must be lowercase" in text
    assert "title must be text" in text
    assert "does not match the file name" in text
    assert (2, "id 'Demo_X' must be lowercase letters, digits and '-'") in {
        (p.line, p.message.removeprefix("front matter: ")) for p in problems
    }
