"""What every view shares: a loader that runs on the I/O thread, a painter on the UI thread.

A view never awaits Redis itself. ``loader()`` returns a coroutine function that the app
runs on the backend's loop; it must only read the plain values captured when it was made
(no widgets: it runs in another thread). ``paint()`` receives the result in a message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.containers import Vertical

from agentconsole.tui.table import LiveTable

if TYPE_CHECKING:
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.backend import Backend

Loader = Callable[["Backend"], Awaitable[Any]]


class View(Vertical):
    view_id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    # a view's own action that posts one of these operations (``P``: start, pause or
    # resume a plan): it exists while any of them is available
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {}

    DEFAULT_CSS = "View { height: 1fr; }"

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def loader(self) -> Loader:
        raise NotImplementedError

    def paint(self, data: Any) -> None:
        raise NotImplementedError

    @property
    def table(self) -> LiveTable:
        """The view's main table (every view has one; NoMatches once its widgets are gone)."""
        return self.query(LiveTable).first()

    @property
    def found_table(self) -> LiveTable | None:
        """The main table, or None while the console shuts down (for the app's generic keys)."""
        found = self.query(LiveTable)
        return found.first() if found else None

    def focus_main(self) -> None:
        table = self.found_table
        if table is not None:
            table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys bound to ``op('name')`` exist only when the table's operation is available
        (read-only mode, the role and Redis' refusals remove them from keys and footer)."""
        from agentconsole.control import operations as ops

        names: tuple[str, ...] = (str(parameters[0]),) if action == "op" and parameters else ()
        names = names or self.ACTION_OPERATIONS.get(action, ())
        if names:
            return any(self.console.operations.available(ops.get(n)) for n in names)
        return True

    def selection(self) -> dict[str, str]:
        """What the selected row fills into an operation: ``{"agent": id, "tenant": t}``."""
        return {}

    def action_op(self, name: str) -> None:
        """A key bound to an operation: its subject parameters come from the selection."""
        from agentconsole.control import operations as ops
        from agentconsole.tui.operations import OperationRequested

        op = ops.get(name)
        args = ops.offers(op, self.selection())
        if args is None:
            needed = next(p.subject for p in op.params if p.subject and not p.optional)
            self.tell(f"no {needed} selected")
            return
        self.post_message(OperationRequested(name, args))

    def tell(self, text: str, severity: str = "warning") -> None:
        """A word for the operator: the app toasts it (views never call up into the app)."""
        from agentconsole.tui.operations import Notice

        self.post_message(Notice(text, severity=severity))

    def set_stale(self, stale: bool) -> None:
        self.set_class(stale, "stale")
