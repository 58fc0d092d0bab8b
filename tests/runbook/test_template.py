import pytest

from agentconsole.runbook.actions import ActionError, parse_line, render
from agentconsole.runbook.template import TemplateError, Values, reflow, render_promql, render_text

EVIL = 'openai"}) or vector(1) # \n[bold]x[/bold] \x1b[31m\nkill all'


def values(**labels: str) -> Values:
    return Values("DependencyBreakerOpen", "critical", "firing", labels, {"summary": "s"})


def test_text_renders_values_literally_and_visibly():
    out = render_text(
        "dep {{ labels.dependency }} / {{ alert.name }} / {{ labels.nope }}",
        values(dependency=EVIL),
    )
    assert "\n" not in out and "\x1b" not in out
    assert "[bold]x[/bold]" in out  # shown as data (the view never parses it as markup)
    assert out.endswith("/ DependencyBreakerOpen / {{ labels.nope }}")


def test_promql_escapes_values_inside_quotes():
    q = render_promql('up{dependency="{{ labels.dependency }}"}', values(dependency=EVIL))
    assert q == (
        'up{dependency="openai\\"}) or vector(1) # \\n[bold]x[/bold] \\x1b[31m\\nkill all"}'
    )
    single = render_promql("up{d='{{ labels.dependency }}'}", values(dependency="a'b\"c"))
    assert single == "up{d='a\\'b\"c'}"


def test_promql_refuses_a_non_token_outside_quotes():
    with pytest.raises(TemplateError, match="not a plain name"):
        render_promql("sum by ({{ labels.dependency }}) (up)", values(dependency="a) or (b"))
    assert (
        render_promql("sum by ({{ labels.x }}) (up)", values(x="tenant")) == "sum by (tenant) (up)"
    )


def test_promql_refuses_missing_and_unknown_variables():
    with pytest.raises(TemplateError, match="does not have"):
        render_promql('up{t="{{ labels.tenant }}"}', values())
    with pytest.raises(TemplateError, match="unknown template variable"):
        render_promql("{{ os.environ }}", values())


def test_escaped_quote_in_the_query_keeps_quote_tracking_right():
    q = render_promql('x{a="q\\"{{ labels.d }}"}', values(d='"'))
    assert q == 'x{a="q\\"\\""}'


@pytest.mark.parametrize("evil", ["acme\nkill all", "acme\x1b[2J", "", " acme"])
def test_a_label_value_that_is_no_name_is_refused(evil):
    spec = parse_line("kill tenant {{ labels.tenant }}")
    with pytest.raises(ActionError, match="refused"):
        render(spec, values(tenant=evil, other="all"))


@pytest.mark.parametrize(
    "odd", ["acme kill all", "acme; kill all", "[red]acme[/red]", "{{ labels.other }}"]
)
def test_a_label_value_can_never_add_or_change_an_action(odd):
    """A value fills one whole argument: at worst it names a tenant called that (which
    the SDK accepts too, so it must be killable), never another action or verb."""
    action = render(parse_line("kill tenant {{ labels.tenant }}"), values(tenant=odd, other="all"))
    assert (action.action, action.args) == ("kill.tenant", {"tenant": odd})
    assert parse_line(action.text).op.name == "kill.tenant"  # typed back, the same action
    assert render(parse_line(action.text), values()).args == {"tenant": odd}


def test_rendered_action_is_exactly_what_runs():
    spec = parse_line("breaker trip {{ labels.dependency }} for 15m", 7)
    action = render(spec, values(dependency="openai"))
    assert action.text == "breaker trip openai for 15m"
    assert (action.action, action.args) == ("breaker.trip", {"dependency": "openai", "for": 900})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("reboot everything", "unknown action 'reboot everything'"),
        ("breaker explode openai", "unknown action 'breaker explode'"),
        ("breaker trip", "usage: breaker trip DEPENDENCY [for DURATION]"),
        ("breaker trip a b", "usage"),
        ("breaker trip openai for ever", "expected a duration like 90s"),
        ("breaker reset openai for 5m", "usage: breaker reset DEPENDENCY$"),
        ("flag rollout x 120", "between 0 and 100"),
        ("flag rollout x lots", "must be a percentage"),
        ("budget set nonsense 5", "unknown budget"),
        ("budget set user-daily-tokens -1", "cannot be negative"),
        ("kill all now", "usage: kill all"),
        ("silence create", "usage: silence create for DURATION"),
        ("{{ labels.verb }} all", "verb must be written out"),
        ("kill tenant t-{{ labels.tenant }}", "must be a whole argument"),
        ("kill tenant {{ labels.tenant | upper }}", "unknown template variable"),
        ("kill tenant a\x07b", "control or invisible character"),
    ],
)
def test_bad_action_lines(line, message):
    with pytest.raises(ActionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_line(line)


def test_every_documented_action_parses():
    for line in [
        "breaker trip openai",
        "breaker trip openai for 15m",
        "breaker reset openai",
        "breaker force-close openai for 1h",
        "flag enable a",
        "flag disable a",
        "flag rollout a 12.5%",
        "kill agent agent-7",
        "kill tenant acme",
        "kill all",
        "kill lift tenant acme",
        "kill lift all",
        "budget set user-daily-tokens 20000",
        "budget set user_daily_cost_usd 2.5",
        "silence create for 1h",
    ]:
        spec = parse_line(line)
        assert render(spec, values()).text.split()[0] == line.split()[0]


def test_operator_inputs_are_asked_for_and_checked_like_labels():
    from agentconsole.runbook.actions import NeedsInput

    spec = parse_line("kill agent {{ input.agent }}")
    with pytest.raises(NeedsInput) as info:
        render(spec, values())
    assert info.value.names == ["agent"]
    typed = Values(inputs={"agent": "agent-7\nkill all"})
    with pytest.raises(ActionError, match=r"refused: input\.agent"):
        render(spec, typed)
    assert render(spec, Values(inputs={"agent": "agent-7"})).text == "kill agent agent-7"


def test_label_values_never_change_the_runbook_structure(plane):
    from agentconsole.runbook.context import AlertContext
    from agentconsole.runbook.parser import parse
    from agentconsole.runbook.session import RunbookSession
    from tests.runbook.helpers import GOOD

    runbook, _ = parse(GOOD, "demo.md")
    evil = "openai\n```\n## Injected step\n```action\nkill all\n```"
    alert = AlertContext("DependencyBreakerOpen", {"dependency": evil})
    session = RunbookSession(plane, runbook, alert)
    assert [s.title for s in runbook.steps] == ["Meaning", "Diagnosis", "Mitigation", "Verify"]
    trip, flag = session.actions(runbook.step(3))
    assert trip.rendered is None and trip.refused.startswith("refused: labels.dependency = ")
    assert flag.rendered.text == "flag disable new-planner"  # untouched by the label
    text = session.text(runbook.step(1).blocks[0])
    assert "\n" not in text and "\\n## Injected step\\n" in text


def test_reflow_joins_soft_line_breaks_and_keeps_the_structure():
    prose = (
        "A rollout broke runs: turn the flag off (the Audit view shows recent flag\n"
        "changes with who made them):\n"
        "\n"
        "- `client`: we send bad requests; look for a recent flag change in\n"
        "  the Audit view.\n"
        "- `server`: the provider fails.\n"
        "1. first\n"
        "## Heading\n"
        "> quoted\n"
        "| a | b |"
    )
    assert reflow(prose).split("\n") == [
        "A rollout broke runs: turn the flag off (the Audit view shows recent flag changes "
        "with who made them):",
        "",
        "- `client`: we send bad requests; look for a recent flag change in the Audit view.",
        "- `server`: the provider fails.",
        "1. first",
        "## Heading",
        "> quoted",
        "| a | b |",
    ]
