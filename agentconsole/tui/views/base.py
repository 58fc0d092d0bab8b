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
    # actions that are not (yet) an operation of the table: action name -> permission
    DANGEROUS: ClassVar[dict[str, str]] = {}

    DEFAULT_CSS = "View { height: 1fr; }"

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def loader(self) -> Loader:
        raise NotImplementedError

    def paint(self, data: Any) -> None:
        raise NotImplementedError

    @property
    def table(self) -> LiveTable | None:
        found = self.query(LiveTable)
        return found.first() if found else None

    def focus_main(self) -> None:
        table = self.table
        if table is not None:
            table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys bound to ``op('name')`` exist only when the table's operation is available
        (read-only mode, the role and Redis' refusals remove them from keys and footer)."""
        if action == "op" and parameters:
            from agentconsole.control import operations as ops

            return self.console.operations.available(ops.get(str(parameters[0])))
        permission = self.DANGEROUS.get(action)
        if permission is not None:
            return self.console.allowed(permission)
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
            self.console.toast(f"no {needed} selected", severity="warning")
            return
        self.post_message(OperationRequested(name, args))

    def set_stale(self, stale: bool) -> None:
        self.set_class(stale, "stale")
