"""Area 4: InferenceServices, their traffic split, canary / promote / rollback, test requests.

Keys: `+`/`-` move a pending canary percent (the status line shows it; enter plans it, esc drops it), `=` exact
percent, `p` promote, `b` roll back, `m` minReplicas, `u` new canary storageUri, `t` test request, `R` the
rollout view (progressive canary: screens/rollout.py), `a` all namespaces, `enter` details. Every change goes
plan -> ConfirmPlan -> apply (with the read
resourceVersion; a 409 re-reads, shows what changed and asks again) -> follow status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import serving as m
from mlopstui.screens.base import AreaScreen
from mlopstui.text import safe
from mlopstui.units import clock
from mlopstui.widgets.columns import Col
from mlopstui.widgets.filter_table import FilterTable
from mlopstui.widgets.quiet import QuietStatic

# the name, its readiness and the canary stay at any width; the bar, mode, minReplicas and age give way
ISVC_COLUMNS = (Col("NAME", 0), Col("READY", 0), Col("MODE", 4), Col("CANARY", 0), Col("TRAFFIC→LATEST", 1),
                Col("MIN", 5), Col("AGE", 3))

ACTION_BINDINGS = [
    Binding("plus", "canary_step(1)", "+canary"),
    Binding("minus", "canary_step(-1)", "-canary"),
    Binding("equals_sign", "set_percent", "=percent"),
    Binding("p", "promote", "Promote"),
    Binding("b", "rollback", "Rollback"),
    Binding("m", "min_replicas", "minReplicas", show=False),
    Binding("u", "set_model", "New model", show=False),
    Binding("t", "test_request", "Test req"),
    Binding("R", "rollout_view", "Rollout", show=False),  # `?` lists it; the 80-column footer is full
]


class ServingActions:
    """The action flow shared by the list and the detail screen (mixed into an AreaScreen)."""

    FOLLOW_TIMEOUT = 60.0
    # (namespace, name, canary percent when the first +/- was pressed, pending target)
    _pending_canary: tuple[str, str, int, int] | None = None

    # provided by the screen
    def current_isvc(self) -> m.InferenceService | None:  # pragma: no cover - overridden
        return None

    # -- canary keys -------------------------------------------------------------------------------
    def _selected(self) -> m.InferenceService | None:
        isvc = self.current_isvc()
        if isvc is None:
            self.set_status("no InferenceService selected", error=True)
        return isvc

    def _unsupported(self, isvc: m.InferenceService) -> bool:
        """Canary keys on RawDeployment / ModelMesh: explained, nothing built or sent."""
        try:
            m.require_canary_support(isvc)
        except MlopsError as err:
            self.show_error(err)
            return True
        return False

    def action_canary_step(self, sign: int) -> None:
        """`+`/`-` move a pending canary percent (shown in the status line) until enter plans it or esc drops
        it; no time window. From nothing pending, a step that changes nothing (`-` at 0 %) asks nothing."""
        isvc = self._selected()
        if isvc is None or self._unsupported(isvc):
            return
        step = self.ctx.settings.canary_step
        current = m.stepped(isvc.canary_percent, 0)  # unset acts as 100
        pending = self._pending_canary
        if pending is None or pending[:2] != (isvc.namespace, isvc.name):
            if m.stepped(current, sign * step) == current:
                self._pending_canary = None
                self.set_status(f"canary of {isvc.name} is already {current} %: nothing to change, nothing sent")
                return
            pending = (isvc.namespace, isvc.name, current, current)
        target = m.stepped(pending[3], sign * step)
        self._pending_canary = (pending[0], pending[1], pending[2], target)
        self._show_pending_canary()

    def _show_pending_canary(self) -> None:
        ns, name, current, target = self._pending_canary  # type: ignore[misc]
        same = " (no change)" if target == current else ""
        self.set_status(f"canary of {name} {current} % → {target} %{same} pending: enter to plan, esc to cancel "
                        f"(+/- adjust by {self.ctx.settings.canary_step})")

    def confirm_pending_canary(self) -> bool:
        """enter with a pending canary percent: plan it (confirm, apply); False when none is pending."""
        from mlopstui.actions.serving import SetCanary

        pending, self._pending_canary = self._pending_canary, None
        if pending is None:
            return False
        ns, name, current, target = pending
        if target == current:
            self.set_status(f"canary of {name} stays {current} %: nothing sent")
            return True
        self.start_action(SetCanary(self.ctx, ns, name, percent=target))
        return True

    def action_back(self) -> None:
        if self._pending_canary is not None:
            name = self._pending_canary[1]
            self._pending_canary = None
            self.set_status(f"canary change of {name} cancelled: nothing sent")
            return
        super().action_back()  # type: ignore[misc]

    def action_confirm_pending(self) -> None:
        if not self.confirm_pending_canary():
            self.set_status("nothing pending (+/- step the canary first)")

    def _ask(self, prompt: str, current: str, placeholder: str, build: Callable[[str], Any]) -> None:
        """Prompt for one value; build(text) validates it and returns the Action to start, or raises
        MlopsError: bad input is refused with a message and nothing is sent."""
        from mlopstui.screens.confirm import PromptValue

        def done(text: str | None) -> None:
            if text is None:
                self.set_status("cancelled: nothing sent")
                return
            try:
                action = build(text)
            except MlopsError as err:
                self.show_error(err, "refused, nothing sent")
                return
            if action is not None:
                self.start_action(action)

        self.app.push_screen(PromptValue(prompt, current, placeholder), done)

    def action_set_percent(self) -> None:
        from mlopstui.actions.serving import SetCanary

        isvc = self._selected()
        if isvc is None or self._unsupported(isvc):
            return
        cur = "" if isvc.canary_percent is None else str(isvc.canary_percent)
        self._ask(f"canaryTrafficPercent for {isvc.name} (whole number 0..100; now "
                  f"{cur or 'unset = latest 100%'})", cur, "0..100",
                  lambda text: SetCanary(self.ctx, isvc.namespace, isvc.name, percent=m.parse_percent(text)))

    def action_promote(self) -> None:
        from mlopstui.actions.serving import Promote

        isvc = self._selected()
        if isvc is not None and not self._unsupported(isvc):
            self.start_action(Promote(self.ctx, isvc.namespace, isvc.name))

    def action_rollback(self) -> None:
        from mlopstui.actions.serving import Rollback

        isvc = self._selected()
        if isvc is not None and not self._unsupported(isvc):
            self.start_action(Rollback(self.ctx, isvc.namespace, isvc.name))

    def action_min_replicas(self) -> None:
        from mlopstui.actions.serving import SetMinReplicas

        isvc = self._selected()
        if isvc is None:
            return
        cur = "" if isvc.min_replicas is None else str(isvc.min_replicas)
        self._ask(f"minReplicas for {isvc.name} (now {cur or 'unset'})", cur, "1",
                  lambda text: SetMinReplicas(self.ctx, isvc.namespace, isvc.name, text))

    def action_set_model(self) -> None:
        from mlopstui.actions.serving import SetCanaryModel

        isvc = self._selected()
        if isvc is None or self._unsupported(isvc):
            return

        def got_uri(text: str) -> None:
            uri = m.validate_storage_uri(text)
            self._ask(f"canary percent for {uri} (0..100)", str(self.ctx.settings.canary_step), "0..100",
                      lambda pct: SetCanaryModel(self.ctx, isvc.namespace, isvc.name, uri, m.parse_percent(pct)))

        self._ask(f"new canary storageUri for {isvc.name} (now {isvc.storage_uri or '-'})", "",
                  "s3://models/NAME/VERSION", got_uri)

    def action_rollout_view(self) -> None:
        """The progressive canary of the selected InferenceService (screens/rollout.py)."""
        from mlopstui.screens.rollout import RolloutScreen

        isvc = self._selected()
        if isvc is not None and not self._unsupported(isvc):
            self.app.push_screen(RolloutScreen(isvc.namespace, isvc.name))

    # -- plan -> confirm -> apply -> follow ------------------------------------------------------
    def start_action(self, action) -> None:
        self.set_status(f"{action.name}: reading {action.isvc_name} ...")
        self.run_io(action.plan, lambda plan: self._confirm(action, plan),
                    lambda err: self.show_error(err, f"{action.name} not sent"), group="serving-plan")

    def _confirm(self, action, plan) -> None:
        from mlopstui.screens.confirm import ConfirmPlan

        def decided(yes: bool | None) -> None:
            if not yes:
                self.set_status(f"{action.name} cancelled: nothing sent")
                return
            ctx = self.ctx
            self.set_status(f"{action.name}: patching {action.isvc_name} ...")
            self.run_io(lambda: action.apply(plan, readonly=ctx.readonly, audit=ctx.audit),
                        lambda result: self._applied(action, result),
                        lambda err: self._apply_failed(action, err), group="serving-apply")

        if not action.changes:
            self.set_status(f"{action.name}: y applies the plan, n cancels")
        self.app.push_screen(ConfirmPlan(plan, self.ctx.readonly), decided)

    def _apply_failed(self, action, err: MlopsError) -> None:
        if err.kind is not Kind.CONFLICT:
            self.show_error(err, f"{action.name} failed")
            return
        self.set_status(f"conflict: {err.message}; re-reading ...", error=True)

        def replanned(plan) -> None:
            self.set_status("changed since read: " + "; ".join(action.changes) + " — confirm again", error=True)
            self._confirm(action, plan)

        self.run_io(action.replan, replanned, lambda e: self.show_error(e, "re-read failed"),
                    group="serving-plan")

    def _applied(self, action, result) -> None:
        self.set_status(f"{result.message}; following status ...")
        self.refresh_data()
        timeout = self.FOLLOW_TIMEOUT

        def followed(res) -> None:
            self.set_status(("done: " if res.ok else "not converged: ") + res.message, error=not res.ok)
            self.refresh_data()

        self.run_io(lambda: action.follow(timeout=timeout), followed,
                    lambda e: self.show_error(e, "following status"), group="serving-follow",
                    timeout=timeout + 15)

    # -- test requests -----------------------------------------------------------------------------
    def infer_output(self, text: str, error: bool = False) -> None:
        self.set_status(text, error=error)

    def run_test_request(self, isvc: m.InferenceService, protocol: str = "v1", sample: Any = None,
                         burst_n: int = 0) -> None:
        from mlopstui.backends import kserve

        try:
            body = m.test_body(sample if sample is not None else self.ctx.settings.inference_sample, protocol)
        except MlopsError as err:
            if err.kind is Kind.CONFIG:  # no input yet: say how to give one, beside the output
                self.infer_output(f"{err.message} (i in the details types one)", error=True)
            else:
                self.show_error(err, "test request")
            return
        ctx = self.ctx

        def call():
            return kserve.send_test_request(ctx, isvc, protocol, body, burst_n=burst_n)

        def done(out) -> None:
            self.infer_output(out.text(), error=not out.ok)

        self.infer_output(f"protocol {protocol} {'burst of ' + str(burst_n) if burst_n else 'request'} "
                          f"to {isvc.name} ...")
        self.run_io(call, done, lambda e: self.show_error(e, "test request"), group="serving-infer",
                    timeout=max(15.0, 2.0 * max(1, burst_n)))

    def action_test_request(self) -> None:
        isvc = self._selected()
        if isvc is not None:
            self.run_test_request(isvc, getattr(self, "protocol", "v1"))


detail_lines = m.detail_lines  # the one renderer (models.serving): the CLI's `isvc NAME` prints the same
_ready = m.ready_word


class ServingScreen(ServingActions, AreaScreen):
    AREA = "serving"
    TITLE = "Serving"
    BINDINGS = [
        Binding("enter", "details", "Details"),
        *ACTION_BINDINGS,
        Binding("a", "toggle_all", "All ns", show=False),
    ]
    COMMANDS_HELP = [("isvc", "InferenceServices (this area)")]
    DEFAULT_CSS = """
    ServingScreen #isvc-info { height: 1; padding: 0 1; color: $text-muted; }
    ServingScreen #isvc-table { height: 1fr; min-height: 4; }
    ServingScreen #isvc-detail { height: auto; max-height: 11; border-top: solid $panel; padding: 0 1; }
    """

    class CacheChanged(Message):
        """The watch cache of InferenceServices changed (posted from the informer's thread)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.all_namespaces = False
        self.isvcs: dict[str, m.InferenceService] = {}
        # the list is kept by watch (backends/informer.py via kserve.IsvcWatch), not re-listed on a timer
        self._watch: Any = None
        self._watch_key: tuple | None = None
        self._change_posted = threading.Event()

    def compose_body(self) -> ComposeResult:
        yield QuietStatic("loading ...", id="isvc-info")
        table = FilterTable(id="isvc-table")
        table.set_columns(*ISVC_COLUMNS)
        yield table
        yield QuietStatic("", id="isvc-detail", markup=False)

    def on_mount(self) -> None:
        self.query_one(FilterTable).focus()
        self.set_interval(max(self.ctx.settings.refresh_interval, 2.0), self._tick)

    def _tick(self) -> None:
        self._show_info()  # the data's age or "live": the watch brings changes, no request here

    def on_unmount(self) -> None:
        w, self._watch = self._watch, None
        if w is not None:
            threading.Thread(target=w.close, daemon=True, name="serving-watch-close").start()

    def _cache_changed(self) -> None:
        """From the informer's thread: coalesce a burst of events into one rebuild."""
        if not self._change_posted.is_set():
            self._change_posted.set()
            self.post_message(self.CacheChanged())

    def on_serving_screen_cache_changed(self, _msg: ServingScreen.CacheChanged) -> None:
        self._change_posted.clear()
        self.refresh_data()

    def current_isvc(self) -> m.InferenceService | None:
        key = self.query_one(FilterTable).selected_key
        return self.isvcs.get(key or "")

    def refresh_data(self) -> None:
        from mlopstui.backends.kserve import IsvcWatch, list_isvcs

        ctx, all_ns = self.ctx, self.all_namespaces

        def load():
            kube = ctx.kube
            key = (id(kube), ctx.namespace, all_ns)
            w = self._watch
            if w is None or self._watch_key != key:
                if w is not None:
                    w.close()
                # the context's shared caches: the Stack's InferenceServices when it runs (one cache per kind)
                w = IsvcWatch(kube, ctx.namespace, all_namespaces=all_ns, on_change=self._cache_changed,
                              informers=ctx.informers).start()
                self._watch, self._watch_key = w, key
            if not w.wait_synced(kube.timeout + 1.0) or w.state.state == "absent" or w.isvc.lists == 0:
                # the first list failed: say why, as a plain list would (the cache keeps retrying by itself)
                return list_isvcs(kube, ctx.namespace, all_namespaces=all_ns)
            return w.isvcs()

        self.run_io(load, self._loaded, self._load_failed, group="serving-list")

    def _load_failed(self, err: MlopsError) -> None:
        self.show_error(err, "listing InferenceServices")
        self.query_one("#isvc-info", Static).update(safe("could not list InferenceServices (ctrl+r retries)"))

    def _loaded(self, items: list[m.InferenceService]) -> None:
        self.loaded_at = clock()
        self.isvcs = {s.key: s for s in items}
        table = self.query_one(FilterTable)
        cols = list(ISVC_COLUMNS)
        if self.all_namespaces:
            cols.insert(0, Col("NAMESPACE", 2))
        table.set_columns(*cols)
        from mlopstui.units import human_age

        now = clock()
        rows = []
        for s in items:
            cells = [s.name, _ready(s.ready), {"RawDeployment": "Raw"}.get(s.mode_class, s.mode_class),
                     "-" if s.canary_percent is None else f"{s.canary_percent}%", m.split_bar(s, 8),
                     "-" if s.min_replicas is None else str(s.min_replicas),
                     human_age(now - s.created) if s.created else "-"]
            if self.all_namespaces:
                cells.insert(0, s.namespace)
            rows.append((s.key, cells))
        table.set_rows(rows)
        self._show_info()
        self._show_detail()

    def _show_info(self) -> None:
        from mlopstui.units import ago

        where = "all namespaces" if self.all_namespaces else f"namespace {self.ctx.namespace}"
        n = len(self.isvcs)
        w = self._watch
        fresh = w.state.describe() if w is not None and w.state.state in ("live", "stale") else \
            f"loaded {ago(self.loaded_at)}"
        self.query_one("#isvc-info", Static).update(safe(
            f"{n} InferenceService{'s' if n != 1 else ''} in {where} · {fresh}"
            f"{' · READ-ONLY' if self.ctx.readonly else ''}"))

    def _show_detail(self) -> None:
        s = self.current_isvc()
        self.query_one("#isvc-detail", Static).update(safe("\n".join(detail_lines(s, 12)) if s else ""))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if not self.confirm_pending_canary():
            self.action_details()

    def action_toggle_all(self) -> None:
        self.all_namespaces = not self.all_namespaces
        self.refresh_data()

    def action_details(self) -> None:
        if self.confirm_pending_canary():
            return
        s = self._selected()
        if s is None:
            return
        from mlopstui.screens.isvc_detail import IsvcDetailScreen

        self.app.push_screen(IsvcDetailScreen(s.namespace, s.name))

    def handle_command(self, cmd: str, arg: str) -> bool:
        return False
