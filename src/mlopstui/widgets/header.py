"""The top line: cluster context, namespace, API reachability, read-only badge, area name."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from mlopstui.text import clean_line


class ClusterHeader(Widget):
    DEFAULT_CSS = """
    ClusterHeader { height: 1; dock: top; background: $panel; color: $text; }
    """

    area: reactive[str] = reactive("")
    context: reactive[str] = reactive("-")
    namespace: reactive[str] = reactive("-")
    api: reactive[str] = reactive("checking")  # ok | unreachable | error text | checking
    api_ok: reactive[bool | None] = reactive(None)
    readonly: reactive[bool] = reactive(False)

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" mlopstui ", style="bold reverse")
        if self.area:
            t.append(f" {clean_line(self.area)} ", style="bold")
        t.append(" ctx:", style="dim")
        t.append(clean_line(self.context), style="bold")
        t.append(" ns:", style="dim")
        t.append(clean_line(self.namespace), style="bold")
        t.append(" api:", style="dim")
        style = {True: "green", False: "bold red", None: "yellow"}[self.api_ok]
        t.append(clean_line(self.api), style=style)
        if self.readonly:
            t.append("  ")
            t.append(" READ-ONLY ", style="bold reverse yellow")
        return t
