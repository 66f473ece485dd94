"""The thin shell: areas as modes, global keys, the `:` command line, cluster header state."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.notifications import SeverityLevel

from mlopstui.config import Settings
from mlopstui.context import AppContext
from mlopstui.screens.areas import AREAS, area_for, make_screen

GLOBAL_COMMANDS: tuple[tuple[str, str], ...] = (
    ("ctx NAME", "switch kubeconfig context"),
    ("ns NAME", "switch namespace"),
    ("readonly", "show whether changes are refused"),
    ("help", "list keys and commands"),
    ("q", "quit"),
) + tuple((a.aliases[0], f"go to {a.title} ({a.key})") for a in AREAS)


# (title, help, area mode, screen action): actions the palette finds by name, run on the area's screen
PALETTE_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Doctor: all findings", "the doctor's findings and their fixes", "stack", "doctor"),
    ("Fix the selected finding", "plan the doctor's fix (Stack)", "stack", "fix"),
    ("Install the selected component", "plan an install (Stack)", "stack", "install"),
    ("Canary: set traffic percent", "of the selected InferenceService (Serving)", "serving", "set_percent"),
    ("Canary: step traffic up", "of the selected InferenceService (Serving)", "serving", "canary_step(1)"),
    ("Promote the canary", "of the selected InferenceService (Serving)", "serving", "promote"),
    ("Rollback the canary", "of the selected InferenceService (Serving)", "serving", "rollback"),
    ("Test request", "to the selected InferenceService (Serving)", "serving", "test_request"),
    ("Materialize features", "a Job from the materialization CronJob (Features)", "features", "materialize"),
)


class AreaCommands(Provider):
    """Command palette entries: areas, actions, contexts and namespaces."""

    def _entries(self) -> list[tuple[str, str, object]]:
        app: MlopsApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, object]] = []
        for a in AREAS:
            out.append((f"Go to {a.title}", a.promise, lambda m=a.mode: app.goto(m)))
        modes = {a.mode for a in AREAS}
        for title, help_text, mode, action in PALETTE_ACTIONS:
            if mode in modes:
                out.append((title, help_text, lambda m=mode, act=action: app.run_area_action(m, act)))
        if app.ctx.target:
            for c in app.ctx.target.contexts:
                out.append((f"Switch context: {c}", "kubeconfig context", lambda c=c: app.switch_context(c)))
        for n in app.namespaces:
            out.append((f"Switch namespace: {n}", "namespace", lambda n=n: app.switch_namespace(n)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, cb in self._entries():
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, cb in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)


class MlopsApp(App):
    TITLE = "mlopstui"
    # the app starts in the first area's mode: its screen is the first one composed, not the default screen
    # replaced by switch_mode in on_mount (which re-parsed the whole stylesheet twice more before the first frame,
    # bench/bench_startup.py)
    DEFAULT_MODE = AREAS[0].mode
    COMMANDS = App.COMMANDS | {AreaCommands}
    ENABLE_COMMAND_PALETTE = True
    # with NO_COLOR every colour is dropped (see __init__): what colour told, text style tells instead
    CSS = """
    App:nocolor DataTable > .datatable--header { text-style: bold underline; }
    App:nocolor DataTable > .datatable--cursor { text-style: bold reverse; }
    App:nocolor DataTable:blur > .datatable--cursor { text-style: reverse; }
    App:nocolor Tree > .tree--cursor { text-style: bold reverse; }
    App:nocolor OptionList > .option-list--option-highlighted { text-style: bold reverse; }
    App:nocolor Input { border: tall; }
    App:nocolor Input:focus { text-style: underline; }
    App:nocolor Tabs Tab.-active { text-style: bold reverse; }
    App:nocolor StatusLine.-error { text-style: bold; }
    App:nocolor Footer .footer-key--key { text-style: bold; }
    """
    # ids: `keymap:` in the config remaps them (README "Keys")
    BINDINGS = [
        *(Binding(a.key, f"goto('{a.mode}')", a.title, show=False, id=f"app.goto_{a.mode}") for a in AREAS),
        Binding("colon", "command_line", "Cmd", id="app.command_line"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),  # as in k9s; listed in ? help
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),  # no id: always there
    ]

    def __init__(self, settings: Settings, **kwargs):
        super().__init__(**kwargs)
        # the direct transport (backends/kubehttp.py) for lists, watches and requests: no kubernetes SDK before the
        # first Stack rows (it loads only for a log follow or a port-forward)
        self.ctx = AppContext.create(settings, direct_http=True)
        self.api_state: tuple[bool | None, str] = (None, "checking")
        self.namespaces: list[str] = []
        self.context_generation = 0  # +1 on every :ctx / :ns: answers to an earlier one are not shown as now
        self._chosen_namespace: str | None = None
        self.first_frame_shown = False  # until then the first screen's workers wait (screens/base.py)
        self._start_pending = False  # the first frame is painted, the key bar and the API check wait (_first_frame)
        # the API check runs on one long-lived thread: a thread started from the UI thread holds the loop until
        # the OS first runs it (on a loaded machine, a second and more: bench_stack --diagnose found the loop
        # there, in a timer's check_api)
        self._api_queue: queue.SimpleQueue | None = None  # checks for the "api-check" daemon thread
        self._api_checking: object = None  # the target whose check is queued or running
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # no animation by default (smooth scrolling costs bandwidth and latency over SSH);
            # TEXTUAL_ANIMATIONS=full brings it back
            self.animation_level = "none"
        if self.no_color:
            # NO_COLOR means no colour, not no contrast. Textual picks Monochrome for a truecolor theme, which
            # maps ANSI colours to grey levels (black on black once an ANSI theme is on): use its NoColor
            # filter instead (the terminal's default foreground and background everywhere); emphasis comes
            # from bold / reverse / underline (NO_COLOR_CSS) and every status carries a glyph and a word.
            from textual.filter import Monochrome, NoColor

            self._filters = [NoColor() if isinstance(f, Monochrome) else f for f in self._filters]
        for area in AREAS:
            self.add_mode(area.mode, lambda a=area: make_screen(a))

    def on_mount(self) -> None:
        settings = self.ctx.settings
        if settings.theme:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                self.notify(f"theme {settings.theme!r} is not known: one of {', '.join(sorted(self.available_themes))}",
                            severity="warning")
        if settings.keymap:
            self.set_keymap(settings.keymap)
        self.call_after_refresh(self._first_frame)
        self.set_interval(max(self.ctx.settings.refresh_interval, 5.0), self.check_api)
        from mlopstui.memory import STARTUP_LIMIT_S

        self.set_timer(STARTUP_LIMIT_S, self.first_rows_shown)  # the bound, when no first rows come

    def _first_frame(self) -> None:
        """After the first frame: the first area's key bar is mounted and the API check starts (as the first
        screen's workers, screens/base.py); when the first screen reads the cluster itself (the Stack), both
        wait for its first rows (first_rows_shown). Why: the key bar's layout and paint, and the check's
        /version request, connection and namespace list, shared the GIL with the sweep's lists and report
        (each list waited for the UI thread's switch interval; bench/bench_startup.py); the sweep's own answer
        says as much about the API meanwhile."""
        self.first_frame_shown = True
        self._start_pending = True
        if not getattr(self.screen, "first_rows_pending", False):
            self.first_rows_shown()

    def first_rows_shown(self) -> None:
        """The first screen's first rows are painted (StackScreen), or memory.STARTUP_LIMIT_S passed: the start
        is over (mlopstui/memory.py), the first area's key bar comes and the API check runs. Once."""
        from mlopstui.memory import startup_done

        startup_done()
        if not self._start_pending:
            return
        self._start_pending = False
        from mlopstui.screens.base import AreaScreen

        for screen in self.screen_stack:  # the first area's key bar (screens/base.py: after_first_frame)
            if isinstance(screen, AreaScreen):
                screen.after_first_frame()
        self.check_api()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification as plain text: they carry server and user strings (an error message, a name),
        whose `[/x]` would raise MarkupError and `[@click=...]` act; escape sequences are dropped."""
        from mlopstui.text import clean, clean_line

        super().notify(clean(message), title=clean_line(title), severity=severity, timeout=timeout, markup=False)

    def on_unmount(self) -> None:
        """The app is exiting (its screens are gone): close the context's watches, clients and local forwards."""
        if self._api_queue is not None:
            self._api_queue.put(None)  # the api-check thread ends
        self.ctx.close(final=True)

    # -- areas and commands ------------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        self.goto(mode)

    def goto(self, mode: str) -> None:
        """The area's own screen: switch to it, or, already in it, come back up from its drill-ins (`1`
        after `:doctor` is the Stack table again)."""
        if self.current_mode != mode:
            self.switch_mode(mode)
        else:
            while len(self.screen_stack) > 1:
                self.pop_screen()

    def run_area_action(self, mode: str, action: str) -> None:
        """A palette action: go to its area's screen, then run the action there (once it is shown)."""
        self.goto(mode)
        self.call_after_refresh(lambda: self.screen.run_action(action))

    def action_command_line(self) -> None:
        from mlopstui.screens.command import CommandScreen

        self.push_screen(CommandScreen(self.command_candidates), self.run_command)

    def command_candidates(self) -> list[str]:
        out = [c.split()[0] for c, _ in GLOBAL_COMMANDS]
        for a in AREAS:
            out.extend(a.aliases)
        if self.ctx.target:
            out.extend(f"ctx {c}" for c in self.ctx.target.contexts)
        out.extend(f"ns {n}" for n in self.namespaces)
        extra = getattr(self.screen, "COMMANDS_HELP", ())
        out.extend(c.split()[0] for c, _ in extra)
        return out

    def run_command(self, text: str | None) -> None:
        if not text:
            return
        from mlopstui.widgets.completion import complete

        # typed faster than the suggestion came (`:ns ml<Tab><Enter>`): a unique completion is what was meant
        text = complete(text.strip(), self.command_candidates(), unique_only=True)
        cmd, _, arg = text.strip().partition(" ")
        cmd, arg = cmd.lower(), arg.strip()
        if cmd in ("q", "quit", "q!"):
            self.exit()
        elif cmd in ("help", "?"):
            self.action_help()
        elif cmd in ("ctx", "context"):
            if arg:
                self.switch_context(arg)
            else:
                self.notify("contexts: " + ", ".join(self.ctx.target.contexts if self.ctx.target else []))
        elif cmd in ("ns", "namespace"):
            if arg:
                self.switch_namespace(arg)
            else:
                self.notify(f"namespace: {self.ctx.namespace}")
        elif cmd == "readonly":
            self.notify("read-only: changes are refused" if self.ctx.readonly else "changes allowed")
        elif (area := area_for(cmd)) is not None:
            self.goto(area.mode)
            handler = getattr(self.screen, "handle_command", None)
            if handler is not None and (arg or cmd not in (area.mode, area.aliases[0])):
                handler(cmd, arg)
        else:
            handler = getattr(self.screen, "handle_command", None)
            if handler is None or not handler(cmd, arg):
                self.notify(f"unknown command :{cmd} (:help lists them)", severity="error")

    def action_help(self) -> None:
        from mlopstui.screens.help import HelpScreen

        cmds = list(GLOBAL_COMMANDS) + list(getattr(self.screen, "COMMANDS_HELP", ()))
        self.push_screen(HelpScreen(self.screen, cmds))

    # -- cluster target ----------------------------------------------------------------------------
    def switch_context(self, name: str) -> None:
        if self.ctx.target and name not in self.ctx.target.contexts:
            self.notify(f"no context '{name}' in the kubeconfig", severity="error")
            return
        # the namespace chosen with :ns, else the configured one (config/--namespace), else the context's own
        self.ctx.retarget(name, self._chosen_namespace or self.ctx.settings.namespace or None)
        self._retargeted()

    def switch_namespace(self, ns: str) -> None:
        """Refused when the name is not a namespace name, or when the cluster's namespaces are known and it is
        not one of them (a typo would show empty areas); accepted with a word when they cannot be listed."""
        from mlopstui.backends.kube import check_namespace
        from mlopstui.errors import MlopsError

        try:
            check_namespace(ns)
        except MlopsError as err:
            self.notify(err.message, severity="error")
            return
        if self.namespaces and ns not in self.namespaces:
            near = [n for n in self.namespaces if n.startswith(ns[:2])][:5]
            self.notify(f"no namespace '{ns}' in this cluster" + (f" (did you mean {', '.join(near)}?)" if near
                                                                   else "; :ns <tab> completes"),
                        severity="error")
            return
        if not self.namespaces:
            self.notify(f"namespace {ns}: not checked (the namespaces could not be listed)", severity="warning")
        self._chosen_namespace = ns
        self.ctx.retarget(self.ctx.target.context if self.ctx.target else None, ns)
        self._retargeted()

    def _retargeted(self) -> None:
        self.context_generation += 1
        self.namespaces = []
        self.api_state = (None, "checking")
        self.check_api()
        for screen in self._live_screens():
            self.sync_header(screen)
            hook = getattr(screen, "context_switched", None) or getattr(screen, "on_context_changed", None)
            if hook is not None and screen.is_mounted:
                hook()

    def _live_screens(self) -> Iterable:
        seen = set()
        for stack in self._screen_stacks.values():
            for s in stack:
                if id(s) not in seen:
                    seen.add(id(s))
                    yield s

    def check_api(self) -> None:
        ctx = self.ctx
        if ctx.target is None:
            self._set_api(False, f"no cluster: {ctx.kube_error.message if ctx.kube_error else '?'}")
            return

        def probe(target: object = ctx.target) -> None:
            try:
                check(target)
            finally:
                if self._api_checking is target:
                    self._api_checking = None

        def check(target: object) -> None:
            try:
                v = ctx.kube.version()  # the live probe of the API server, on its own interval
                state = (True, f"ok {v.get('gitVersion', '')}".strip())
                try:
                    names = self._namespace_names(ctx)
                except Exception:
                    names = []
            except Exception as exc:  # noqa: BLE001
                from mlopstui.errors import from_exception

                state, names = (False, from_exception(exc).kind.value), []
            if ctx.target is target:  # not retargeted meanwhile
                self.call_from_thread(self._api_checked, state, names)

        if self._api_checking is ctx.target:
            return  # the last check of this target has not answered yet (its own timeout ends it)
        if self._api_queue is None:
            self._api_queue = queue.SimpleQueue()
            threading.Thread(target=_run_each, args=(self._api_queue,), daemon=True, name="api-check").start()
        self._api_checking = ctx.target
        self._api_queue.put(probe)

    def _namespace_names(self, ctx: AppContext) -> list[str]:
        """The namespaces for `:ns` completion, from the shared watch cache (listed once, then watched)."""
        from mlopstui.backends.kube import NAMESPACES

        inf = ctx.informers.informer(NAMESPACES, optional=True)
        inf.wait_synced(ctx.settings.kube_timeout)
        return sorted(n["metadata"]["name"] for n in inf.items())

    def _api_checked(self, state: tuple[bool | None, str], names: list[str]) -> None:
        self.namespaces = names
        self._set_api(*state)

    def _set_api(self, ok: bool | None, text: str) -> None:
        self.api_state = (ok, text)
        for screen in self._live_screens():
            self.sync_header(screen)

    @property
    def _background_screens(self) -> list:
        """Textual counts the screen under the top one as visible even when the top screen is opaque; then every
        update of a covered screen (the Stack's sweep under a log view or a drill-in) repaints the whole top
        screen, a full frame per probe answer over the terminal. Nothing under an opaque screen shows: none is
        a background screen then (a modal, whose background is translucent, keeps the screens under it)."""
        stack = self._screen_stack
        if stack and stack[-1].styles.background.a == 1:
            return []
        return super()._background_screens

    def sync_header(self, screen) -> None:
        from mlopstui.widgets.header import ClusterHeader

        for header in screen.query(ClusterHeader):
            header.area = getattr(screen, "TITLE", "") or ""
            header.context = self.ctx.context_name
            header.namespace = self.ctx.namespace
            header.api_ok, header.api = self.api_state
            header.readonly = self.ctx.readonly


def _run_each(jobs: queue.SimpleQueue) -> None:
    """A long-lived daemon thread: each job in turn, until None."""
    while (job := jobs.get()) is not None:
        try:
            job()
        except Exception:  # noqa: BLE001 - a check reports its own failures; the thread lives on
            pass
