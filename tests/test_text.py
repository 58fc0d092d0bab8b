"""The one grammar (durations, percentages, names) and the one sanitiser."""

import pytest

from agentconsole import text

CORPUS_NAMES_OK = ["Acme Corp", "müller-gmbh", "a.b", "[bold]x[/bold]", "sim-0001", "租户"]
CORPUS_NAMES_BAD = ["", " acme", "acme ", "a\nb", "a\x1b[2Jb", "a\x00", "x" * 1_000_000]


@pytest.mark.parametrize("value", CORPUS_NAMES_OK)
def test_names_that_every_operation_can_target(value):
    assert text.name(value) == value


@pytest.mark.parametrize("value", CORPUS_NAMES_BAD)
def test_names_nothing_could_target_are_refused_with_a_short_message(value):
    with pytest.raises(text.Invalid) as info:
        text.name(value, "tenant")
    message = str(info.value)
    assert message.startswith("invalid tenant") and len(message) < 200
    assert "\n" not in message and "\x1b" not in message


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45)],
)
def test_durations(raw, seconds):
    assert text.duration(raw) == seconds


@pytest.mark.parametrize(
    "raw", ["", "0", "0s", "-5m", "ever", "1y", "nan", "inf", "1e309", "99999999999999d", "367d"]
)
def test_bad_durations_are_refused(raw):
    with pytest.raises(text.Invalid):
        text.duration(raw)


def test_the_upper_bound_is_named():
    with pytest.raises(text.Invalid, match="at most 366d"):
        text.duration("99999999999999d")
    assert text.duration("366d") == text.DURATION_MAX


@pytest.mark.parametrize("seconds", [90, 900, 5400, 86400, 0.5])
def test_format_duration_round_trips(seconds):
    assert text.duration(text.format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("raw", "bp"), [("0", 0), ("12.5", 1250), ("12.5%", 1250), ("100", 10000), (0.01, 1), (5, 500)]
)
def test_percentages(raw, bp):
    assert text.percent(raw) == bp


@pytest.mark.parametrize(
    "raw",
    ["-0", -0.0, "nan", float("nan"), "1e309", float("inf"), "101", "12.345", "1e1", "", True],
)
def test_bad_percentages_are_refused(raw):
    with pytest.raises(text.Invalid):
        text.percent(raw)


def test_clean_removes_escapes_and_bounds_a_megabyte():
    assert text.clean("\x1b[31mred\x1b[0m") == "red"
    assert text.clean("a\nb") == "a␤b"
    out = text.clean("x" * 1_000_000, 60)
    assert len(out) == 60 and out.endswith("…")


def test_clean_shows_every_kind_of_line_break_as_one():
    """Terminals paste line breaks as CR (tmux) or CRLF: each is one ␤, never "?␤"."""
    assert text.clean("a\r\nb\rc\nd") == "a␤b␤c␤d"
    assert text.clean("a\r\nb", multiline=True) == "a\nb"


def test_times_are_labelled_utc():
    assert text.utc(0.5) == "1970-01-01 00:00:00 UTC"
    assert text.hms(3661) == "01:01:01"
    assert text.ago(100, now=160) == "1m ago" and text.ago(None) == "-"
