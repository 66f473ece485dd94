"""The base of every area screen: header, body, inline status/error line, `/` filter, footer.

Screens never call an SDK on the event loop: run_io() runs a blocking function in a thread
worker with a timeout and hands the result (or an MlopsError) back on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from mlopstui.errors import Kind, MlopsError, from_exception
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.header import ClusterHeader
from mlopstui.widgets.keys import with_ids
from mlopstui.widgets.quiet import QuietStatic

if TYPE_CHECKING:
    from mlopstui.app import MlopsApp
    from mlopstui.context import AppContext


class StatusLine(QuietStatic):
    DEFAULT_CSS = """
    StatusLine { height: auto; max-height: 3; color: $text-muted; padding: 0 1; }
    StatusLine.-error { color: $error; }
    """

    def show(self, text: str, error: bool = False) -> None:
        from rich.text import Text

        self.set_class(error, "-error")
        from mlopstui.text import clean

        # plain text: "[invalid]" and paths are not markup; no server-sent escape reaches the terminal
        self.update(Text(clean(text)))


class AreaScreen(Screen):
    """Subclasses set AREA / TITLE, implement compose_body() and refresh_data()."""

    AREA = ""
    TITLE = ""
    # / and ctrl+r are on every screen (and in ? help): the 80-column footer keeps the screen's own keys
    BINDINGS = [
        Binding("/", "filter", "Filter", show=False, id="screen.filter"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="screen.refresh"),
        Binding("escape", "back", "Back", show=False, id="screen.back"),
        # the table's own keys when nothing has focus (the focused table takes them first)
        Binding("g,home", "first_row", "Top", show=False, id="screen.first_row"),
        Binding("G,end", "last_row", "Bottom", show=False, id="screen.last_row"),
    ]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every screen's bindings get ids (`<area>.<action>`) before Textual merges them: `keymap:` in the
        # config remaps them (App.set_keymap), `?` shows the keys in effect
        if "BINDINGS" in cls.__dict__:
            cls.BINDINGS = with_ids(cls.AREA or cls.__name__.removesuffix("Screen").lower(), cls.__dict__["BINDINGS"])
        super().__init_subclass__(**kwargs)

    DEFAULT_CSS = """
    AreaScreen > #body { height: 1fr; }
    AreaScreen #filter { dock: bottom; }
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loaded_at: float | None = None
        self._covered_changes = False
        self._footer_deferred = False

    @property
    def mapp(self) -> MlopsApp:
        return self.app  # type: ignore[return-value]

    @property
    def ctx(self) -> AppContext:
        return self.mapp.ctx

    def compose(self) -> ComposeResult:
        yield ClusterHeader()
        with Vertical(id="body"):
            yield from self.compose_body()
        yield StatusLine(id="status")
        if getattr(self.app, "first_frame_shown", True):
            yield self._footer()
        else:  # the app's first screen: the key bar comes right after the first frame (mount_deferred_footer)
            self._footer_deferred = True

    @staticmethod
    def _footer() -> Footer:
        # compact, and no palette key (ctrl+p is in ? help): at 80 columns the screen's own keys fit
        return Footer(compact=True, show_command_palette=False)

    def after_first_frame(self) -> None:
        """The app's first screen, once the app's first frame is painted and (the Stack) its first rows too
        (MlopsApp.first_rows_shown): its key bar is mounted. Textual's Footer (a widget per key, their styles
        and layout) was 40 ms of the first frame's 290 ms of CPU here, against 150 ms for a bare Textual app,
        and ~10 ms of the first rows' (bench/bench_startup.py); it is painted a few frames later."""
        if self._footer_deferred:
            self._footer_deferred = False
            self.call_later(self._mount_footer)

    async def _mount_footer(self) -> None:
        await self.mount(self._footer())
        self.refresh_bindings()  # a Footer lists its keys on the screen's bindings signal, sent at its start

    def compose_body(self) -> ComposeResult:
        yield Static("")

    def on_mount(self) -> None:
        # Textual calls on_mount (and on_screen_resume) of every class in the MRO that defines one, the
        # subclass's first: a subclass's handler must not call super().on_mount() as well (it ran this twice,
        # two first sweeps; tests/unit/test_layers.py checks every handler)
        self.mapp.sync_header(self)
        if getattr(self.app, "first_frame_shown", True):
            self.refresh_data()
        else:  # the app's first screen: its workers start once it is painted (their threads, lists, JSON and
            # imports would share the GIL with the first frame: bench/bench_startup.py)
            self.call_after_refresh(self.refresh_data)

    def on_screen_resume(self) -> None:
        self.mapp.sync_header(self)
        if self._footer_deferred and getattr(self.app, "first_frame_shown", True):
            self.after_first_frame()  # not on top at the first frame: its key bar now
        if self._covered_changes:  # what changed under a dialog is painted now, once
            self._covered_changes = False
            self.refresh()

    def _compositor_refresh(self) -> None:
        """Under a dialog (a ModalScreen, whose translucent background keeps this screen visible), Textual
        repaints the dialog's whole region for every change of this screen: with help or a confirm open over the
        Stack, a sweep or an age tick wrote ~290 KB/min to the terminal. Changes under a dialog are held and
        painted once when it closes (on_screen_resume); the dialog itself is what the operator reads."""
        from textual.screen import ModalScreen

        app = self.app
        if self is not app.screen and isinstance(app.screen, ModalScreen) and self in app._background_screens:
            if self._compositor._dirty_regions or self._dirty_widgets:
                self._covered_changes = True
            self._compositor._dirty_regions.clear()
            self._dirty_widgets.clear()
            return
        super()._compositor_refresh()

    # -- data ------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        """Start the workers that load this screen's data. Override."""

    def on_context_changed(self) -> None:
        """Context or namespace switched: re-query. Override for more."""
        self.refresh_data()

    def context_switched(self) -> None:
        """Called by the app after `:ctx` / `:ns`: what the status line said about the earlier target (an
        error above all) is dropped before the screen re-queries the new one."""
        self.set_status("")
        self.on_context_changed()

    def _context_generation(self) -> int:
        return getattr(self.app, "context_generation", 0)

    def set_status(self, text: str, error: bool = False) -> None:
        try:
            self.query_one("#status", StatusLine).show(text, error)
        except Exception:
            pass

    def show_error(self, err: BaseException, what: str = "") -> None:
        e = err if isinstance(err, MlopsError) else from_exception(err)
        msg = f"{what}: {e.message}" if what else e.message
        if e.hint:
            msg += f"\n  fix: {e.hint}"
        self.set_status(f"[{e.kind.value}] {msg}", error=True)

    def run_io(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[MlopsError], None] | None = None, *, group: str = "io",
               timeout: float | None = None, exclusive: bool = True) -> None:
        """Run blocking fn() in a thread; call on_done(result) or on_error(MlopsError) on the UI thread."""
        self._io_worker(fn, on_done, on_error, group, timeout, exclusive)

    def _io_worker(self, fn, on_done, on_error, group, timeout, exclusive) -> None:
        limit = timeout or (self.ctx.settings.kube_timeout * 3)
        generation = self._context_generation()

        def runner() -> None:
            # fn runs in its own daemon thread so a hung call cannot hold this worker past the limit
            box: dict[str, Any] = {}

            def call() -> None:
                try:
                    box["result"] = fn()
                except BaseException as exc:  # noqa: BLE001 - every failure is shown inline
                    box["error"] = exc

            t = threading.Thread(target=call, daemon=True, name=f"io-{group}")
            t.start()
            t.join(limit)
            if t.is_alive():
                err = MlopsError(Kind.TIMEOUT, f"no answer within {limit:.0f}s")
                self.app.call_from_thread(self._deliver_error, err, on_error, generation)
            elif "error" in box:
                self.app.call_from_thread(self._deliver_error, from_exception(box["error"]), on_error, generation)
            else:
                self.app.call_from_thread(on_done, box.get("result"))

        self.run_worker(runner, thread=True, group=group, exclusive=exclusive, exit_on_error=False)

    def _deliver_error(self, err: MlopsError, on_error: Callable[[MlopsError], None] | None,
                       generation: int | None = None) -> None:
        if generation is not None and generation != self._context_generation():
            # started against an earlier :ctx / :ns: not this target's error; said once, not kept on screen
            self.notify(f"from the earlier context: [{err.kind.value}] {err.message}", severity="warning",
                        timeout=4, markup=False)
            return
        if on_error:
            on_error(err)
        else:
            self.show_error(err)

    # -- keys ------------------------------------------------------------------------------------
    def focused_table(self) -> FilterTable | None:
        if isinstance(self.focused, FilterTable):
            return self.focused
        tables = list(self.query(FilterTable))
        return tables[0] if tables else None

    def _filter_box(self) -> Input | None:
        boxes = list(self.query("#filter").results(Input))
        return boxes[0] if boxes else None

    def action_filter(self) -> None:
        table = self.focused_table()
        if table is None:
            self.notify("nothing to filter here")
            return
        self._filter_target = table
        box = self._filter_box()
        if box is None:
            box = Input(value=table.filter_text, placeholder="filter rows (enter keeps, esc clears)", id="filter")
            self.mount(box, before=self.query_one("#status"))
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            target = getattr(self, "_filter_target", None)
            if target is not None:
                target.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            self._close_filter(keep=True)

    def _close_filter(self, keep: bool) -> None:
        target = getattr(self, "_filter_target", None)
        if not keep and target is not None:
            target.apply_filter("")
        box = self._filter_box()
        if box is not None:
            box.remove()
        if target is not None:
            target.focus()

    def action_first_row(self) -> None:
        table = self.focused_table()
        if table is not None:
            table.action_first_row()

    def action_last_row(self) -> None:
        table = self.focused_table()
        if table is not None:
            table.action_last_row()

    def action_refresh(self) -> None:
        self.set_status("refreshing ...")
        self.refresh_data()

    def action_back(self) -> None:
        if self._filter_box() is not None:
            self._close_filter(keep=False)
            return
        table = self.focused_table()
        if table is not None and table.filter_text:
            table.apply_filter("")
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()


class PlaceholderScreen(AreaScreen):
    """An area that is not built yet says honestly what will be there."""

    def __init__(self, area: str, title: str, text: str):
        super().__init__()
        self.AREA = area
        self.TITLE = title
        self._text = text

    def compose_body(self) -> ComposeResult:
        yield Static(f"[b]{self.TITLE}[/b]\n\nNot built yet. {self._text}", id="placeholder")
