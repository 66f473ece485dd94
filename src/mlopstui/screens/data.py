"""Area 6: Data. LakeFS repositories, branches and tags, commit logs, diffs between refs, objects with a
preview; the DVC project's tracked datasets with `dvc status -c`.

Keys: enter drills in (repository -> branches, branch -> log, prefix -> objects, object -> preview),
`b` branches, `l` log of the selected branch, `o` objects, `d` diff (asks LEFT...RIGHT), `v` DVC status,
`backspace` up a prefix; writes (each confirmed with its plan): `n` new branch from the selected
ref or commit, `X` delete the selected branch, `R` revert the selected commit, `M` merge the selected
branch into the default branch (its diff and conflicts in the plan), `P`/`U` dvc push/pull of the
selected dataset.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from mlopstui.errors import Kind, MlopsError
from mlopstui.models import data as m
from mlopstui.screens.base import AreaScreen
from mlopstui.widgets.filter_table import FilterTable

DVC_TIMEOUT = 180.0  # DVC imports in seconds; a remote may be slow

_STATUS_WORDS = {"in-remote": "✓ in remote", "not-in-remote": "✗ not pushed", "missing": "✗ missing",
                 "unknown": "? unknown"}


class DataScreen(AreaScreen):
    AREA = "data"
    TITLE = "Data"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("b", "branches", "Branches"),
        Binding("l", "log", "Log"),
        Binding("o", "objects", "Objects"),
        Binding("d", "diff", "Diff"),
        Binding("v", "dvc", "DVC"),
        Binding("n", "new_branch", "New branch"),
        Binding("R", "revert", "Revert"),
        Binding("M", "merge", "Merge", show=False),
        Binding("X", "delete_branch", "Delete branch", show=False),
        Binding("P", "dvc_push", "dvc push", show=False),
        Binding("U", "dvc_pull", "dvc pull", show=False),
        Binding("backspace", "up", "Up", show=False),
    ]
    COMMANDS_HELP = [("lakefs", "LakeFS repositories (:lakefs)"), ("dvc", "the DVC project's datasets (:dvc)")]
    DEFAULT_CSS = """
    DataScreen #data-info { height: 1; padding: 0 1; color: $text-muted; }
    DataScreen #repos-table { height: auto; max-height: 5; }
    DataScreen #view-title { height: 1; padding: 0 1; background: $panel; }
    DataScreen #main-table { height: 1fr; min-height: 3; }
    DataScreen #preview { height: auto; max-height: 9; padding: 0 1; border-top: solid $panel; }
    DataScreen #preview.-empty { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None
        self.repos: list[m.Repository] = []
        self.repo: m.Repository | None = None
        self.view = "branches"  # branches | log | diff | objects | dvc
        self.ref = ""  # the branch/ref of the log or objects view
        self.prefix = ""
        self.diff_refs: tuple[str, str] = ("", "")
        self.refs: dict[str, m.Ref] = {}
        self.commits: dict[str, m.Commit] = {}
        self.objects: dict[str, m.ObjectEntry] = {}
        self.project: m.DvcProject | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("connecting to LakeFS ...", id="data-info", markup=False)
        repos = FilterTable(id="repos-table")
        repos.set_columns("REPOSITORY", "STORAGE NAMESPACE", "DEFAULT")
        yield repos
        yield Static("", id="view-title", markup=False)
        yield FilterTable(id="main-table")
        yield Static("", id="preview", markup=False, classes="-empty")

    # -- helpers -------------------------------------------------------------------------------------
    def _main(self) -> FilterTable:
        return self.query_one("#main-table", FilterTable)

    def _title(self, text: str) -> None:
        self.query_one("#view-title", Static).update(Text(text))

    def _preview(self, text: str | None) -> None:
        p = self.query_one("#preview", Static)
        p.set_class(not text, "-empty")
        p.update(Text(text or ""))

    def _lakefs(self):
        from mlopstui.backends import lakefs

        if self.client is None:
            self.client = lakefs.client(self.ctx)
        return self.client

    def on_unmount(self) -> None:
        if self.client is not None:
            self.client.close()

    def on_context_changed(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None
        self.refresh_data()

    # -- loading ---------------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        def load():
            c = self._lakefs()
            return c.source, c.repositories()

        self.run_io(load, self._repos_loaded, self._repos_failed, group="repos")
        if self.view == "dvc":
            self._load_dvc()
        elif self.repo is not None:
            self._load_view()

    def _repos_loaded(self, res) -> None:
        source, repos = res
        self.repos = repos
        self.query_one("#data-info", Static).update(Text(f"LakeFS {source}  ·  {len(repos)} repositories"))
        t = self.query_one("#repos-table", FilterTable)
        t.set_rows([(r.id, (r.id, r.storage_namespace, r.default_branch)) for r in repos])
        if self.repo is None and repos:
            self.repo = repos[0]
            self.ref = self.repo.default_branch
            self._load_view()
        self.loaded_at = __import__("time").time()

    def _repos_failed(self, err: MlopsError) -> None:
        self.query_one("#data-info", Static).update(Text("LakeFS: not available (v shows the DVC project)"))
        self.show_error(err, "LakeFS")

    def _load_view(self) -> None:
        repo = self.repo
        if repo is None:
            return
        name, view, ref, prefix = repo.id, self.view, self.ref or repo.default_branch, self.prefix
        left, right = self.diff_refs

        def load():
            c = self._lakefs()
            if view == "branches":
                return view, c.branches(name) + c.tags(name)
            if view == "log":
                return view, c.log(name, ref, limit=200)
            if view == "diff":
                return view, c.diff(name, left, right)
            if view == "objects":
                return view, c.objects(name, ref, prefix)
            raise MlopsError(Kind.INVALID, f"unknown view {view}")

        self.run_io(load, self._view_loaded, lambda e: self.show_error(e, f"LakeFS {view}"), group="view")

    def _view_loaded(self, res) -> None:
        view, items = res
        if view != self.view:
            return
        t = self._main()
        repo = self.repo.id if self.repo else ""
        if view == "branches":
            self.refs = {f"{r.kind}:{r.name}": r for r in items}
            default = self.repo.default_branch if self.repo else ""
            t.set_columns("REF", "KIND", "COMMIT")
            t.set_rows([(f"{r.kind}:{r.name}", (r.name + (" (default)" if r.name == default else ""), r.kind,
                                               r.commit_id[:12])) for r in items])
            self._title(f"{repo}: branches, tags (enter log · n new · X delete · M merge into {default})")
        elif view == "log":
            self.commits = {c.id: c for c in items}
            t.set_columns("COMMIT", "TIME", "COMMITTER", "MESSAGE")
            t.set_rows([(c.id, (c.short, m.fmt_time(c.created), c.committer or "-", c.message)) for c in items])
            self._title(f"{repo}: log of {self.ref} (R revert the commit · n branch from it)")
        elif view == "diff":
            left, right = self.diff_refs
            t.set_columns("CHANGE", "PATH", "SIZE")
            t.set_rows([(d.path, (d.type, d.path, m.fmt_size(d.size_bytes))) for d in items])
            self._title(f"{repo}: diff {left}...{right}: {m.diff_summary(items)}")
        elif view == "objects":
            self.objects = {o.path: o for o in items}
            t.set_columns("PATH", "SIZE", "MODIFIED", "TYPE")
            t.set_rows([(o.path, (o.path[len(self.prefix):] or o.path, "dir" if o.is_prefix else
                                  m.fmt_size(o.size_bytes), m.fmt_time(o.mtime), o.content_type or "-"))
                        for o in items])
            self._title(f"{repo}: {self.ref}:/{self.prefix} (enter open/preview · backspace up)")

    def _load_dvc(self) -> None:
        from mlopstui.backends import dvc

        ctx = self.ctx

        def load():
            root, _ = dvc.repo_path(ctx)
            return dvc.status(root)

        self._title("DVC: running `dvc status -c` through DVC's API ...")
        self.run_io(load, self._dvc_loaded, lambda e: self.show_error(e, "DVC"), group="dvc", timeout=DVC_TIMEOUT)

    def _dvc_loaded(self, project: m.DvcProject) -> None:
        self.project = project
        if self.view != "dvc":
            return
        t = self._main()
        t.set_columns("DATASET", "REMOTE", "SIZE", "MD5", "LAST COMMIT")
        t.set_rows([(o.path, (o.path, _STATUS_WORDS.get(o.status, o.status), m.fmt_size(o.size), (o.md5 or "-")[:10],
                              f"{o.last_commit or '-'} {o.last_commit_subject or ''}".strip()))
                    for o in project.outs])
        remotes = "; ".join(f"{r.name}{'*' if r.is_default else ''} {r.url} endpointurl "
                            f"{r.endpointurl or 'NONE (public AWS)'}" for r in project.remotes)
        self._title(f"DVC {project.root} (git {project.git_commit or '-'})  P: push, U: pull")
        c = project.counts()
        self._preview(f"remotes: {remotes}\n" + ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
                      + (f"\nremote status unknown: {project.remote_error}" if project.remote_error else ""))

    # -- navigation ------------------------------------------------------------------------------------
    def _switch(self, view: str) -> None:
        self.view = view
        self._preview(None)
        self._main().set_rows([])
        if view == "dvc":
            self._load_dvc()
        else:
            self._load_view()

    def _selected_branch(self) -> str | None:
        key = self._main().selected_key if self.view == "branches" else None
        if key and key.startswith("branch:"):
            return key.split(":", 1)[1]
        return None

    def _selected_ref(self) -> str | None:
        key = self._main().selected_key
        if self.view == "branches" and key:
            return key.split(":", 1)[1]
        if self.view == "log" and key:
            return key
        return None

    def action_branches(self) -> None:
        self._switch("branches")

    def action_log(self) -> None:
        ref = self._selected_ref() if self.view == "branches" else None
        self.ref = ref or self.ref or (self.repo.default_branch if self.repo else "")
        self._switch("log")

    def action_objects(self) -> None:
        ref = self._selected_ref() if self.view == "branches" else None
        self.ref = ref or self.ref or (self.repo.default_branch if self.repo else "")
        self.prefix = ""
        self._switch("objects")

    def action_dvc(self) -> None:
        self._switch("dvc")

    def action_up(self) -> None:
        if self.view == "objects" and self.prefix:
            parts = self.prefix.rstrip("/").split("/")[:-1]
            self.prefix = "/".join(parts) + ("/" if parts else "")
            self._switch("objects")

    def action_open(self) -> None:
        repos = self.query_one("#repos-table", FilterTable)
        if repos.has_focus:
            key = repos.selected_key
            found = next((r for r in self.repos if r.id == key), None)
            if found:
                self.repo, self.ref, self.prefix = found, found.default_branch, ""
                self._main().focus()
                self._switch("branches")
            return
        key = self._main().selected_key
        if not key:
            return
        if self.view == "branches":
            self.ref = key.split(":", 1)[1]
            self._switch("log")
        elif self.view == "log":
            c = self.commits.get(key)
            if c:
                meta = ", ".join(f"{k}={v}" for k, v in c.metadata.items()) or "-"
                self._preview(f"commit {c.id}\n{m.fmt_time(c.created)} by {c.committer or '-'}: {c.message}\n"
                              f"parents: {', '.join(p[:12] for p in c.parents) or '-'}\nmetadata: {meta}")
        elif self.view == "objects":
            o = self.objects.get(key)
            if o and o.is_prefix:
                self.prefix = o.path
                self._switch("objects")
            elif o:
                self._show_preview(o.path)

    def _show_preview(self, path: str) -> None:
        from mlopstui.backends import lakefs

        repo, ref = self.repo.id, self.ref
        self._preview(f"loading {path} ...")
        self.run_io(lambda: lakefs.preview(self._lakefs(), repo, ref, path), lambda pv: self._preview(pv.render()),
                    lambda e: self.show_error(e, f"preview {path}"), group="preview")

    def action_diff(self) -> None:
        from mlopstui.screens.confirm import PromptValue

        if self.repo is None:
            return
        default = self.repo.default_branch
        right = self._selected_branch() or (self.ref if self.ref != default else "")
        suggestion = f"{default}...{right}" if right and right != default else f"{default}..."

        def got(value: str | None) -> None:
            if not value:
                return
            left, sep, right_ = value.replace("...", "\0").partition("\0")
            try:
                left, right_ = m.validate_ref(left.strip()), m.validate_ref(right_.strip())
            except MlopsError as err:
                self.show_error(err, "diff")
                return
            if not sep:
                self.set_status("diff: write LEFT...RIGHT (what RIGHT changed since their merge base)", error=True)
                return
            self.diff_refs = (left, right_)
            self._switch("diff")

        self.app.push_screen(PromptValue("diff LEFT...RIGHT (three-dot, as LakeFS's diff):", suggestion), got)

    # -- writes ----------------------------------------------------------------------------------------
    def _confirm(self, make_action, what: str, after=None) -> None:
        from mlopstui.screens.confirm import confirm_then_apply

        def plan():
            action = make_action(self._lakefs())
            return action, action.plan()

        def planned(res) -> None:
            action, p = res

            def applied(result) -> None:
                self.set_status(f"{what}: {result.message}", error=not result.ok)
                if after:
                    after()
                self._load_view()

            confirm_then_apply(self, action, p, what=what, on_applied=applied)

        self.set_status(f"{what}: planning ...")
        self.run_io(plan, planned, lambda e: self.show_error(e, what), group="plan")

    def action_new_branch(self) -> None:
        from mlopstui.actions.data import CreateBranch
        from mlopstui.screens.confirm import PromptValue

        if self.repo is None:
            return
        repo = self.repo.id
        source = self._selected_ref() or self.ref or self.repo.default_branch

        def got(name: str | None) -> None:
            if not name:
                self.set_status("new branch cancelled: nothing sent")
                return
            try:
                m.validate_branch(name.strip())
            except MlopsError as err:
                self.show_error(err, "new branch")
                return
            self._confirm(lambda c: CreateBranch(c, repo, name.strip(), source), "new branch")

        self.app.push_screen(PromptValue(f"new branch of {repo} from {source[:20]}:", placeholder="branch name"), got)

    def action_delete_branch(self) -> None:
        from mlopstui.actions.data import DeleteBranch

        branch = self._selected_branch()
        if self.repo is None or not branch:
            self.set_status("select a branch first (b)")
            return
        if branch == self.repo.default_branch:  # refused before any request
            self.set_status(f"{branch} is the default branch of {self.repo.id}: not deleted (LakeFS refuses it)",
                            error=True)
            return
        repo = self.repo.id
        self._confirm(lambda c: DeleteBranch(c, repo, branch), "delete branch")

    def action_revert(self) -> None:
        from mlopstui.actions.data import RevertCommit

        key = self._main().selected_key if self.view == "log" else None
        if self.repo is None or not key or self.ref not in {r.name for r in self.refs.values() if r.kind == "branch"} \
                and self.ref != self.repo.default_branch:
            self.set_status("select a commit in a branch's log first (l)")
            return
        c = self.commits.get(key)
        repo, branch = self.repo.id, self.ref
        parent = 1 if c is not None and c.is_merge else 0
        self._confirm(lambda cl: RevertCommit(cl, repo, branch, key, parent), "revert")

    def action_merge(self) -> None:
        from mlopstui.actions.data import MergeBranch

        branch = self._selected_branch()
        if self.repo is None or not branch or branch == self.repo.default_branch:
            self.set_status("select a branch other than the default first (b)")
            return
        repo, dest = self.repo.id, self.repo.default_branch
        self._confirm(lambda c: MergeBranch(c, repo, branch, dest), "merge")

    def _dvc_transfer(self, verb: str) -> None:
        from mlopstui.actions.data import DvcTransfer
        from mlopstui.backends import dvc
        from mlopstui.screens.confirm import confirm_then_apply

        key = self._main().selected_key if self.view == "dvc" else None
        if not key:
            self.set_status("select a dataset in the DVC view first (v)")
            return
        ctx = self.ctx

        def progress(line: str) -> None:
            self.app.call_from_thread(self.set_status, f"dvc {verb} {key}: {line[:100]}")

        def plan():
            root, _ = dvc.repo_path(ctx)
            action = DvcTransfer(root, verb, key, on_progress=progress)
            return action, action.plan()

        def planned(res) -> None:
            action, p = res

            def applied(result) -> None:
                self.set_status(f"dvc {verb}: {result.message}", error=not result.ok)
                self._load_dvc()

            confirm_then_apply(self, action, p, what=f"dvc {verb}", on_applied=applied, timeout=900.0)

        self.set_status(f"dvc {verb} {key}: planning (dvc status -c) ...")
        self.run_io(plan, planned, lambda e: self.show_error(e, f"dvc {verb}"), group="plan", timeout=DVC_TIMEOUT)

    def action_dvc_push(self) -> None:
        self._dvc_transfer("push")

    def action_dvc_pull(self) -> None:
        self._dvc_transfer("pull")

    def handle_command(self, cmd: str, arg: str) -> bool:
        if cmd == "dvc":
            self.action_dvc()
            return True
        if cmd == "lakefs":
            self.action_branches()
            return True
        return False
