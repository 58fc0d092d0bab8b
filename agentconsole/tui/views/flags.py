"""Flags: state, type, rollout, owner, last change; toggle and rollout with a preview."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentconsole.tui import fmt
from agentconsole.tui.safe import cell, clean
from agentconsole.tui.table import Column, LiveTable, Row
from agentconsole.tui.views.base import Loader, View

if TYPE_CHECKING:
    from agentconsole.control.flags import Flag
    from agentconsole.tui.backend import Backend

COLUMNS = [
    Column("name", "NAME", 26),
    Column("type", "TYPE", 14),
    Column("state", "STATE", 5),
    Column("rollout", "ROLLOUT", 8, numeric=True),
    Column("stickiness", "STICKY", 7),
    Column("owner", "OWNER", 12),
    Column("changed", "LAST CHANGE", 24, numeric=True),
    Column("reason", "REASON", 24),
    Column("version", "V", 4, numeric=True),
]


@dataclass
class FlagsData:
    rows: list[Row]
    flags: dict[str, Flag]
    problems: list[str]
    plan_status: dict[str, Any] = field(default_factory=dict)  # the controller's last verdicts


def flag_row(flag: Flag) -> Row:
    kill_switch = flag.is_kill_switch
    state_style = "bold green" if flag.enabled else ("bold red" if kill_switch else "dim")
    changed = f"{fmt.hms(flag.changed_at)} by {flag.changed_by}" if flag.changed_at else "-"
    cells = (
        cell(flag.name, 26, "bold" if kill_switch else ""),
        cell("⚠ kill-switch" if kill_switch else flag.type, 14, "yellow" if kill_switch else ""),
        cell("on" if flag.enabled else "off", 5, state_style),
        cell(flag.rollout, 8, sort_key=flag.rollout_bp),
        cell(flag.stickiness, 7),
        cell(flag.owner, 12),
        cell(changed, 24, sort_key=flag.changed_at),
        cell(flag.reason, 24),
        cell(flag.version, 4, sort_key=flag.version),
    )
    search = " ".join((flag.name, flag.type, flag.owner, flag.changed_by, flag.reason)).lower()
    return Row(flag.name, cells, search)


def flag_detail(flag: Flag) -> str:
    from agentconsole.control.flag_diff import constraint_summary, variant_summary

    lines = [f"{flag.name} ({flag.value_type}): {variant_summary(flag)}"]
    if flag.constraints:
        lines.append(f"only where: {constraint_summary(flag)}")
    return "\n".join(clean(line, 240) for line in lines)


class FlagsView(View):
    view_id = "flags"
    title = "Flags"
    aliases: ClassVar[tuple[str, ...]] = ("flags", "flag", "fl", "f")
    ACTION_OPERATIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "toggle_flag": ("flag.enable", "flag.disable"),
        "plan_pause": ("rollout.start", "rollout.pause", "rollout.resume"),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "toggle_flag", "Toggle", id="flags.toggle"),
        Binding("o", "op('flag.rollout')", "Rollout %", id="flags.rollout"),
        Binding("w", "op('flag.weights')", "Variant weights", id="flags.weights", show=False),
        Binding("s", "sort", "Sort", id="flags.sort"),
        Binding("N", "op('rollout.create')", "New rollout plan", id="flags.plan_new", show=False),
        Binding("P", "plan_pause", "Plan start/pause/resume", id="flags.plan_pause", show=False),
        Binding("A", "op('rollout.advance')", "Plan advance", id="flags.plan_advance", show=False),
        Binding("X", "op('rollout.abort')", "Plan abort", id="flags.plan_abort", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flags: dict[str, Flag] = {}
        self.plan_status: dict[str, Any] = {}

    def compose(self):
        yield Static("", id="flags-summary", markup=False)
        yield LiveTable(COLUMNS, id="flags-table")
        # variants, payloads and constraints of the flag under the cursor (valued flags only)
        yield Static("", id="flag-detail", markup=False)
        # the rollout plan of the flag under the cursor (tui/rollout_panel.py)
        yield Static("", id="plan-detail", markup=False)

    def on_mount(self) -> None:
        self.table.sort_column = "name"
        self.query_one("#flag-detail", Static).display = False
        self.query_one("#plan-detail", Static).display = False

    def on_data_table_row_highlighted(self, event: Any) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        """One or two lines under the table for a flag with variants or constraints."""
        detail = self.query_one("#flag-detail", Static)
        flag = self.flags.get(self.table.cursor_key or "")
        self.show_plan(flag)
        if flag is None or not (flag.variants or flag.constraints):
            detail.display = False
            return
        detail.update(flag_detail(flag))
        detail.display = True

    def show_plan(self, flag: Flag | None) -> None:
        from agentconsole.tui import rollout_panel

        box = self.query_one("#plan-detail", Static)
        plan = rollout_panel.plan_of(flag) if flag is not None else None
        if flag is None or plan is None:
            box.display = False
            return
        box.update(rollout_panel.render(flag, plan, self.plan_status.get(flag.name)))
        box.display = True

    def loader(self) -> Loader:
        async def load(backend: Backend) -> FlagsData:
            from agentconsole.control.controller import read_status

            plane = backend.plane()
            flags, problems = await plane.flags.list()
            status = await read_status(plane) if any(f.plan for f in flags) else {}
            by_name = {f.name: f for f in flags}
            return FlagsData([flag_row(f) for f in flags], by_name, problems, status)

        return load

    def paint(self, data: FlagsData) -> None:
        self.flags = data.flags
        self.plan_status = data.plan_status
        self.table.set_rows(data.rows)
        engaged = sum(1 for f in data.flags.values() if f.is_kill_switch and not f.enabled)
        text = f"{len(data.flags)} flags"
        if engaged:
            text += f" · {engaged} kill switch{'es' if engaged != 1 else ''} engaged (off)"
        if data.problems:
            text += f" · {len(data.problems)} unreadable: {data.problems[0]}"
        self.query_one("#flags-summary", Static).update(text)
        self.show_detail()

    def selected(self) -> Flag | None:
        flag = self.flags.get(self.table.cursor_key or "")
        if flag is None:
            self.tell("no flag selected")
        return flag

    def selection(self) -> dict[str, str]:
        key = self.table.cursor_key
        return {"flag": key} if key in self.flags else {}

    def action_sort(self) -> None:
        self.table.sort_by()

    def action_toggle_flag(self) -> None:
        """On or off by the state shown, against the version shown (a conflict otherwise)."""
        from agentconsole.tui.operations import OperationRequested

        flag = self.selected()
        if flag is None:
            return
        name = "flag.disable" if flag.enabled else "flag.enable"
        if self.check_action("op", (name,)):
            self.post_message(
                OperationRequested(name, {"flag": flag.name}, expected_version=flag.version)
            )

    def action_op(self, name: str) -> None:
        from agentconsole.tui.operations import OperationRequested

        flag = self.selected()
        if flag is None:
            return
        self.post_message(
            OperationRequested(name, {"flag": flag.name}, expected_version=flag.version)
        )

    def action_plan_pause(self) -> None:
        """P: start a new plan, pause a running one, resume a paused one (with a reason)."""
        from agentconsole.tui import rollout_panel
        from agentconsole.tui.operations import OperationRequested

        flag = self.selected()
        if flag is None:
            return
        name = rollout_panel.pause_key_operation(flag)
        if name is None:
            self.tell(f"flag {flag.name} has no plan to pause (N creates one)", "information")
            return
        self.post_message(OperationRequested(name, {"flag": flag.name}))  # asks a reason
