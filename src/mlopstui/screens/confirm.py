"""The confirm dialog of plan -> confirm -> apply. Shows the exact patch; y applies, n/esc cancels."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mlopstui.actions.base import Plan

if TYPE_CHECKING:
    from mlopstui.errors import MlopsError
    from mlopstui.screens.base import AreaScreen


class ConfirmPlan(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "yes", "Apply"),
        Binding("n,escape", "no", "Cancel"),
    ]
    DEFAULT_CSS = """
    ConfirmPlan { align: center middle; }
    ConfirmPlan > Vertical { width: 90%; max-width: 110; height: auto; max-height: 100%;
                             border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmPlan VerticalScroll { height: auto; max-height: 30; min-height: 3; }
    ConfirmPlan #plan-scroll { height: auto; max-height: 70vh; }
    ConfirmPlan #confirm-keys { height: 1; dock: bottom; text-align: center; }
    ConfirmPlan .readonly { color: $error; }
    """

    def __init__(self, plan: Plan, readonly: bool = False):
        super().__init__()
        self.plan = plan
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Apply {self.plan.action}?[/b]  risk: {self.plan.risk}")
            with VerticalScroll(id="plan-scroll"):
                yield Static(self.plan.render(), markup=False, id="plan-text")
            if self.readonly:
                yield Static("read-only mode: this will be refused", classes="readonly")
            yield Static("[b reverse] y [/] apply    [b reverse] n [/] / [b reverse] esc [/] cancel",
                         id="confirm-keys")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class PromptValue(ModalScreen[str | None]):
    """Ask for one value (e.g. a canary percent); validation is the caller's."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PromptValue { align: center middle; }
    PromptValue > Vertical { width: 70; height: auto; border: round $accent; background: $surface;
                             padding: 0 1; }
    """

    def __init__(self, prompt: str, value: str = "", placeholder: str = ""):
        super().__init__()
        self._prompt, self._value, self._placeholder = prompt, value, placeholder

    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        with Vertical():
            yield Static(self._prompt, markup=False)  # it may name server objects
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def confirm_then_apply(screen: AreaScreen, action: Any, plan: Plan, *, what: str,
                       on_applied: Callable[[Any], None], on_error: Callable[[MlopsError], None] | None = None,
                       applying: str | None = None, group: str = "apply", timeout: float | None = None) -> None:
    """The TUI half of plan -> confirm -> apply, shared by every screen that changes something: show ``plan``
    in ConfirmPlan; on y, ``action.apply`` (read-only refusal and audit included) in a worker, then
    ``on_applied(result)`` or ``on_error(err)`` (default: the error inline) on the UI thread; on n/esc,
    say in the status line that nothing was sent."""
    ctx = screen.ctx

    def decided(yes: bool | None) -> None:
        if not yes:
            screen.set_status(f"{what} cancelled: nothing sent")
            return
        screen.set_status(applying or f"{what}: {plan.summary} ...")
        screen.run_io(lambda: action.apply(plan, readonly=ctx.readonly, audit=ctx.audit), on_applied,
                      on_error or (lambda err: screen.show_error(err, f"{what} not applied")),
                      group=group, timeout=timeout)

    screen.set_status(f"{what}: y applies the plan, n cancels")
    screen.app.push_screen(ConfirmPlan(plan, ctx.readonly), decided)
