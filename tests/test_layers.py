"""Front-ends (cli/, tui/, runbook/, metrics/) reach Redis only through control/.

import-linter (pyproject) proves they never import the client; this proves they never use
the control plane's own connection (``plane.redis``) either, which an import cannot show.
"""

import ast
from pathlib import Path

import agentconsole

FRONT_ENDS = ("cli", "tui", "runbook", "metrics")


def _uses_of_plane_redis(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "redis":
            owner = ast.unparse(node.value)
            if "plane" in owner or "backend" in owner:
                found.append(f"{path}:{node.lineno}: {owner}.redis")
    return found


def test_front_ends_never_touch_the_redis_client():
    root = Path(agentconsole.__file__).parent
    found = [
        use
        for folder in FRONT_ENDS
        for path in sorted((root / folder).rglob("*.py"))
        for use in _uses_of_plane_redis(path)
    ]
    assert found == [], "\n".join(found)
