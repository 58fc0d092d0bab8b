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


def _calls_up_into_the_app(path: Path) -> list[str]:
    """``self.console.toast(...)``, ``app.toast(...)``, ``self.app._anything``: a view or a
    dialog reaching into the app instead of posting a message (Notice, OperationRequested)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = ast.unparse(node.value)
        up = owner.endswith(("console", "app")) and owner not in ("self",)
        if up and (node.attr == "toast" or node.attr.startswith("_")):
            found.append(f"{path}:{node.lineno}: {owner}.{node.attr}")
    return found


def test_views_and_dialogs_post_messages_instead_of_calling_up_into_the_app():
    """Only the app (app.py) and its operations module toast; the rest post a Notice."""
    tui = Path(agentconsole.__file__).parent / "tui"
    own = {"app.py", "operations.py"}
    found = [
        use
        for path in sorted(tui.rglob("*.py"))
        if path.name not in own
        for use in _calls_up_into_the_app(path)
    ]
    assert found == [], "\n".join(found)
