"""Every example in docs/integrations.md runs as written, against the test Redis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.examples import run_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
# section heading -> what its example prints
EXPECTED = {
    "OpenAI client": "Summary: all good. 12 5",
    "Anthropic client": "Triage: low priority. 20 6",
    "OpenAI Agents SDK": "Escalated to facilities. 2",
    "LangChain and LangGraph": "Reply drafted. 1 30",
    "PydanticAI": "Invoice class: utilities. 1",
    "Synchronous code": "billing 1",
}


def examples() -> dict[str, str]:
    found = {}
    for section in re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]:
        title, _, body = section.partition("\n")
        code = re.search(r"```python\n(.*?)```", body, re.S)
        if code:
            found[title.strip()] = code.group(1)
    return found


def test_every_example_is_checked():
    assert set(examples()) == set(EXPECTED)


@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_example_runs_as_written(title, settings, tmp_path):
    out = run_example(examples()[title], settings, tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == EXPECTED[title]
