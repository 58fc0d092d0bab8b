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
    # action name -> control-plane permission; absent (not just refused) when not allowed
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
        permission = self.DANGEROUS.get(action)
        if permission is not None:
            return self.console.allowed(permission)
        return True

    def set_stale(self, stale: bool) -> None:
        self.set_class(stale, "stale")
