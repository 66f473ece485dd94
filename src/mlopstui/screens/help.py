"""`?`: every binding of the current screen and the global ones, plus the `:` commands."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

_KEY_NAMES = {"colon": ":", "question_mark": "?", "slash": "/", "escape": "esc", "space": "space",
              "plus": "+", "minus": "-", "equals_sign": "=", "full_stop": "."}


def key_label(key: str) -> str:
    """What the key is on the keyboard: `]` for right_square_bracket, `ctrl+r`, `G`."""
    from textual.keys import _character_to_key, key_to_character

    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    mods, _, base = key.rpartition("+")
    char = key_to_character(base)
    if char is not None and char.isprintable() and _character_to_key(char) == base:
        base = char
    return f"{mods}+{base}" if mods else base


def describe_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """(scope, key, description) for the screen's and the app's bindings, deduplicated."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    keymap = getattr(screen.app, "_keymap", {}) or {}  # the user's `keymap:` (App.set_keymap)
    for scope, node in (("screen", screen), ("global", screen.app)):
        for cls in type(node).__mro__:
            for b in getattr(cls, "BINDINGS", []) or []:
                binding = b if isinstance(b, Binding) else Binding(*b)
                keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
                for key in keys.split(","):
                    key = key.strip()
                    if key in seen:
                        continue
                    seen.add(key)
                    shown = (binding.key_display if keys == binding.key else None) or key_label(key)
                    rows.append((scope, shown, binding.description or binding.action))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $accent;
                                   background: $surface; padding: 0 1; }
    """

    def __init__(self, for_screen: Screen, commands: list[tuple[str, str]]):
        super().__init__()
        self._for = for_screen
        self._commands = commands

    def compose(self) -> ComposeResult:
        lines = [f"[b]Keys — {getattr(self._for, 'TITLE', '') or type(self._for).__name__}[/b]", ""]
        for scope, key, desc in describe_bindings(self._for):
            lines.append(f"  [b]{escape(key):<12}[/b] {escape(desc)}  [dim]({scope})[/dim]")
        lines += ["", "[b]Commands (type : then the command)[/b]", ""]
        for cmd, desc in self._commands:
            lines.append(f"  [b]:{escape(cmd):<16}[/b] {escape(desc)}")
        lines += ["", "[dim]ctrl+p opens the command palette · esc closes this[/dim]"]
        with VerticalScroll():
            yield Static("\n".join(lines), id="help-text", markup=True)

    def action_dismiss(self) -> None:
        self.dismiss(None)
