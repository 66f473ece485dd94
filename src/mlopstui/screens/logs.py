"""Pod logs and YAML, as k9s shows them: `/` searches (matches highlighted, `n`/`N` next/previous, the status
line says "match 3/17" or "no match", esc clears), `w` wraps long lines.

Logs (PodLogScreen, used by the Stack drill-in, Pipelines node logs and the Features job log) also have
`c` a container picker (containers and init containers, with state and restarts), `p` the previous
(terminated) instance's log (`?previous=true`, kubectl logs --previous) and `f` follow (`follow=true`, a
stream read in a worker; new lines are appended as they come, and the view scrolls with them only while it
shows the bottom; nothing is repainted while no line arrives). At most MAX_LINES lines are kept, and the
screen says so. Every line is masked (secrets) and its colours are parsed by Text.from_ansi from
text.keep_sgr: no other escape sequence reaches the terminal.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import podlogs
from mlopstui.screens.base import AreaScreen
from mlopstui.secrets import MASK, mask_text, scrub
from mlopstui.text import clean_line, keep_sgr
from mlopstui.widgets.logview import MAX_LINES, LogView
from mlopstui.widgets.quiet import QuietStatic

TAIL = 500  # lines read first (kubectl logs --tail)
FOLLOW_SECONDS = 1800.0  # a follow stream is given up after this long (f starts it again)

SEARCH_BINDINGS = [
    Binding("n", "next_match", "Next match", show=False),
    Binding("N", "prev_match", "Prev match", show=False),
    Binding("w", "wrap", "Wrap"),
]


def log_line(raw: str) -> Text:
    """One log line for the view: secrets masked, colours parsed into styles, other escapes removed."""
    return Text.from_ansi(keep_sgr(mask_text(raw)), no_wrap=True, end="")


class TextSearch:
    """k9s-style search over the screen's LogView (#view). Mixed into an AreaScreen."""

    def view(self) -> LogView:
        return self.query_one("#view", LogView)  # type: ignore[attr-defined]

    def info_words(self) -> str:
        return ""

    def show_info(self) -> None:
        words = [w for w in (self.view().match_words(), self.info_words()) if w]
        self.set_status(" · ".join(words))  # type: ignore[attr-defined]

    def _search_box(self) -> Input | None:
        found = list(self.query("#search").results(Input))  # type: ignore[attr-defined]
        return found[0] if found else None

    def action_filter(self) -> None:
        box = self._search_box()
        if box is None:
            box = Input(value=self.view().query_text, placeholder="search (enter keeps, esc clears; n/N next/previous)",
                        id="search")
            self.mount(box, before=self.query_one("#status"))  # type: ignore[attr-defined]
        box.focus()

    def on_key(self, event: events.Key) -> None:
        """Keys typed right after `/`, before the new box has focus, belong to the search (not to n, w, f ...)."""
        box = self._search_box()
        if box is None or box.has_focus:
            return
        if event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
        elif event.key == "enter":
            box.action_submit()
        else:
            return
        event.stop()
        event.prevent_default()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.view().search(event.value)
            self.show_info()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            event.stop()
            event.input.remove()
            self.view().focus()
            self.show_info()

    def action_next_match(self) -> None:
        self.view().next_match()
        self.show_info()

    def action_prev_match(self) -> None:
        self.view().prev_match()
        self.show_info()

    def action_wrap(self) -> None:
        self.view().toggle_wrap()
        self.view_changed()
        self.show_info()

    def view_changed(self) -> None:
        """The view's wrap or size changed: repaint what describes it. Override."""

    def action_back(self) -> None:
        box = self._search_box()
        if box is not None or self.view().query_text:
            if box is not None:
                box.remove()
            self.view().clear_search()
            self.view().focus()
            self.show_info()
            return
        super().action_back()  # type: ignore[misc]


class ContainerPicker(ModalScreen[str | None]):
    """The pod's containers and init containers; enter picks one, esc keeps the current."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ContainerPicker { align: center middle; }
    ContainerPicker > Vertical { width: 90%; max-width: 100; height: auto; max-height: 80%;
                                 border: round $accent; background: $surface; padding: 0 1; }
    ContainerPicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, pod: str, choices: list[podlogs.Container], current: str | None):
        super().__init__()
        self.pod, self.choices, self.current = pod, choices, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(clean_line(f"containers of {self.pod} (enter picks, esc cancels)")))
            yield OptionList(*[Option(Text(clean_line(("› " if c.name == self.current else "  ") + c.label())),
                                      id=c.name) for c in self.choices], id="containers")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        names = [c.name for c in self.choices]
        ol.highlighted = names.index(self.current) if self.current in names else 0
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PodLogScreen(TextSearch, AreaScreen):
    """One container's log of one pod: tail, follow, previous, container picker, search, wrap."""

    AREA = "stack"
    BINDINGS = [
        Binding("f", "follow", "Follow"),
        Binding("p", "previous", "Previous"),
        Binding("c", "containers", "Containers"),
        *SEARCH_BINDINGS,
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    PodLogScreen #log-head { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, namespace: str, pod: str, container: str | None = None, *, area: str = "stack",
                 title: str = "", gone_hint: str = "", tail: int = TAIL):
        super().__init__()
        self.AREA = area
        self.namespace, self.pod, self.container, self.tail = namespace, pod, container, tail
        self.TITLE = title or f"Logs {namespace}/{pod}"
        self.gone_hint = gone_hint
        self.pod_obj: dict[str, Any] | None = None
        self.choices: list[podlogs.Container] = []
        self.following = True
        self.previous = False
        self.ended = ""  # why the last follow stream ended
        self._gen = 0  # bumps on every (re)load: lines of an older stream are dropped
        self._resp: Any = None
        self._pending: deque[str] = deque(maxlen=MAX_LINES)
        self._pending_lock = threading.Lock()
        self._scheduled = False

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("", id="log-head", markup=False)
        yield LogView(id="view")

    def on_mount(self) -> None:
        self.view().focus()

    def on_unmount(self, event: events.Unmount) -> None:
        self._stop_stream()

    # -- loading ---------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        from mlopstui.backends.kube import PODS

        ctx, ns, pod = self.ctx, self.namespace, self.pod
        self.run_io(lambda: ctx.kube.get(PODS, pod, ns), self._pod_loaded, self._failed, group="log-pod")

    def _pod_loaded(self, pod: dict[str, Any]) -> None:
        self.pod_obj = pod
        self.choices = podlogs.containers(pod)
        if self.container is None or self.container not in [c.name for c in self.choices]:
            self.container = podlogs.default_container(pod)
        if not podlogs.running(pod):
            self.following = False
        self._load()

    def _failed(self, err: MlopsError) -> None:
        if err.kind is Kind.NOT_FOUND and self.gone_hint:
            err = MlopsError(Kind.NOT_FOUND, f"the pod {self.pod} is gone", hint=self.gone_hint)
        self.show_error(err, "logs")

    def _load(self) -> None:
        """Read the log again: the tail (or the previous instance's log), then follow when on."""
        self._stop_stream()
        self._gen += 1
        self.ended = ""
        self._paint_head()
        ctx, ns, pod, container, tail = self.ctx, self.namespace, self.pod, self.container, self.tail
        if self.following and not self.previous:
            self.view().set_lines([])
            self._start_stream(self._gen)
            return
        previous = self.previous
        gen = self._gen
        self.run_io(lambda: ctx.kube.pod_log(pod, ns, tail_lines=tail, container=container, previous=previous),
                    lambda text: self._got(gen, text), self._load_failed, group="log-read")

    def _got(self, gen: int, text: str) -> None:
        if gen != self._gen:
            return
        lines = (text or "").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.view().set_lines([log_line(podlogs.cut(x)) for x in lines])
        self.view().scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._paint_head()
        self.show_info()

    def _load_failed(self, err: MlopsError) -> None:
        self.view().set_lines([])
        self._paint_head()
        self._failed(err)

    # -- follow: a stream in a worker, lines handed to the UI in batches ---------------------------
    def _start_stream(self, gen: int) -> None:
        ctx, ns, pod, container, tail = self.ctx, self.namespace, self.pod, self.container, self.tail

        def opened(resp: Any) -> None:
            self._resp = resp

        def run() -> None:
            buf = podlogs.LineBuffer()
            why = "the server ended the stream"
            try:
                for chunk in ctx.kube.follow_log(pod, ns, container=container, tail_lines=tail,
                                                 max_seconds=FOLLOW_SECONDS, on_open=opened):
                    if gen != self._gen:
                        return
                    self._hand_over(gen, buf.feed(chunk))
                self._hand_over(gen, buf.flush())
            except MlopsError as exc:
                why = exc.message
                if gen == self._gen:
                    self.app.call_from_thread(self._failed, exc)
            if gen == self._gen:
                self.app.call_from_thread(self._stream_ended, gen, why)

        self.run_worker(run, thread=True, group="log-follow", exclusive=True, exit_on_error=False)

    def _hand_over(self, gen: int, lines: list[str]) -> None:
        """From the worker: queue lines; one UI callback drains whatever queued meanwhile."""
        if not lines:
            return
        with self._pending_lock:
            self._pending.extend(lines)
            if self._scheduled:
                return
            self._scheduled = True
        self.app.call_from_thread(self._drain, gen)

    def _drain(self, gen: int) -> None:
        with self._pending_lock:
            lines = list(self._pending)
            self._pending.clear()
            self._scheduled = False
        if gen != self._gen or not lines:
            return
        self.view().append([log_line(x) for x in lines])
        self._paint_head()

    def _stream_ended(self, gen: int, why: str) -> None:
        if gen != self._gen:
            return
        self.following = False
        self.ended = why
        self._paint_head()
        self.show_info()

    def _stop_stream(self) -> None:
        self._gen += 1
        resp, self._resp = self._resp, None
        if resp is not None:
            try:
                resp.shutdown()  # wakes the worker blocked reading the stream
            except Exception:  # noqa: BLE001 - already closed
                pass
        with self._pending_lock:
            self._pending.clear()
            self._scheduled = False

    # -- words -----------------------------------------------------------------------------------
    def _paint_head(self) -> None:
        c = next((x for x in self.choices if x.name == self.container), None)
        n = len(self.choices)
        where = f"container {self.container or '-'}" + (" (init)" if c and c.init else "")
        if n > 1:
            where += f" ({n} containers: c picks)"
        what = "previous instance" if self.previous else ("following" if self.following else "not following")
        view = self.view()
        count = f"{view.line_count:,} lines" + (f" ({view.dropped:,} older dropped)" if view.dropped else "")
        self.query_one("#log-head", Static).update(Text(clean_line(
            f"{where} · {what} · wrap {'on' if view.wrap else 'off'} · {count}, last {MAX_LINES:,} lines kept")))

    view_changed = _paint_head

    def info_words(self) -> str:
        return f"follow ended: {self.ended}" if self.ended else ""

    # -- keys ------------------------------------------------------------------------------------
    def action_follow(self) -> None:
        if self.previous:
            self.set_status("the previous instance has ended: p back to the current log to follow it")
            return
        self.following = not self.following
        if self.following:
            self._load()
        else:
            self._stop_stream()
            self._paint_head()
        self.show_info()

    def action_previous(self) -> None:
        self.previous = not self.previous
        if self.previous:
            self.following = False
        self._load()

    def action_containers(self) -> None:
        if not self.choices:
            self.set_status("no container listed yet (the pod is loading)")
            return

        def picked(name: str | None) -> None:
            if name and name != self.container:
                self.container = name
                self.previous = False
                self._load()

        self.app.push_screen(ContainerPicker(self.pod, self.choices, self.container), picked)

    def action_refresh(self) -> None:
        self._load()


class YamlScreen(TextSearch, AreaScreen):
    """One object as YAML (managedFields dropped, secrets masked): search, wrap."""

    AREA = "stack"
    BINDINGS = [*SEARCH_BINDINGS, Binding("escape", "back", "Back")]

    def __init__(self, obj: dict[str, Any]):
        super().__init__()
        self.obj = obj
        m = obj.get("metadata") or {}
        self.TITLE = f"YAML {obj.get('kind')} {m.get('namespace', '')}/{m.get('name', '')}"

    def compose_body(self) -> ComposeResult:
        yield LogView(id="view")

    def on_mount(self) -> None:
        import yaml

        obj = dict(self.obj)
        meta = dict(obj.get("metadata") or {})
        meta.pop("managedFields", None)
        obj["metadata"] = meta
        text = yaml.safe_dump(scrub(obj), sort_keys=False, width=200)
        self.view().set_lines([Text(clean_line(x)) for x in text.splitlines()])
        self.view().focus()
        self.show_info()

    def info_words(self) -> str:
        return f"secrets masked as {MASK}; / search, w wrap"
