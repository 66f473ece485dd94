"""The `:` command line as a small modal at the bottom of the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input

from mlopstui.widgets.completion import CommandSuggester


class CommandScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    CommandScreen { align: left bottom; background: transparent; }
    CommandScreen > Input { dock: bottom; width: 100%; border: tall $accent; }
    """

    def __init__(self, provider):
        super().__init__()
        self._provider = provider

    def compose(self) -> ComposeResult:
        yield Input(placeholder=":command  (tab completes, ? lists commands)",
                    suggester=CommandSuggester(self._provider), id="command-input")

    def on_key(self, event) -> None:
        if event.key == "tab":
            from mlopstui.widgets.completion import complete

            # computed now, not from the suggester (which answers asynchronously: a fast tab would miss it)
            box = self.query_one(Input)
            done = complete(box.value, self._provider())
            if done != box.value:
                box.value = done
                box.cursor_position = len(box.value)
            event.prevent_default()
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)
