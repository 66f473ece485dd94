"""The confirm dialog of plan -> confirm -> apply. Shows the exact patch; y applies, n/esc cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from mlopstui.actions.base import Plan


class ConfirmPlan(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "yes", "Apply"),
        Binding("n,escape", "no", "Cancel"),
    ]
    DEFAULT_CSS = """
    ConfirmPlan { align: center middle; }
    ConfirmPlan > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                             border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmPlan VerticalScroll { height: auto; max-height: 30; }
    ConfirmPlan Horizontal { height: 3; align: center middle; }
    ConfirmPlan .readonly { color: $error; }
    """

    def __init__(self, plan: Plan, readonly: bool = False):
        super().__init__()
        self.plan = plan
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Apply {self.plan.action}?[/b]  risk: {self.plan.risk}")
            with VerticalScroll():
                yield Static(self.plan.render(), markup=False, id="plan-text")
            if self.readonly:
                yield Static("read-only mode: this will be refused", classes="readonly")
            with Horizontal():
                yield Button("Apply (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

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
            yield Static(self._prompt)
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
