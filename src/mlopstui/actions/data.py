"""Data-area actions: LakeFS branch create/delete, revert, merge; DVC push/pull of one target.

Each LakeFS apply is exactly one write request; plans only read. Refusals that need no server
(a bad name, deleting the default branch) are raised by plan() before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlopstui.actions.base import Action, Plan, Result
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import data as m

if TYPE_CHECKING:
    from mlopstui.backends.lakefs import LakeFSClient


class _LakeFSAction(Action):
    def __init__(self, client: LakeFSClient, repo: str) -> None:
        self.client = client
        self.repo = m.validate_repo(repo)

    def _target(self, what: str) -> str:
        return f"lakefs/{self.repo}/{what}"

    @property
    def _where(self) -> str:
        return self.client.source

    # -- re-reading after a write whose answer never came (Action.observe) ---------------------------------
    def _head(self, branch: str) -> str | None:
        """The branch's commit id; '' when there is no such branch; None when it cannot be read."""
        try:
            return self.client.branch(self.repo, branch).commit_id
        except MlopsError as exc:
            return "" if exc.kind is Kind.NOT_FOUND else None

    def _new_commit(self, branch: str, old_head: str | None, parents: tuple[str, ...],
                    message: str | None = None) -> bool | None:
        """The branch moved from old_head to a commit whose parents are old_head and `parents` (and, given,
        whose message starts with `message`): True; still at old_head: False; else None."""
        head = self._head(branch)
        if not head or not old_head:
            return None
        if head == old_head:
            return False
        try:
            c = self.client.commit(self.repo, head)
        except MlopsError:
            return None
        ok = old_head in c.parents and all(p in c.parents for p in parents if p)
        return (ok and (message is None or c.message.startswith(message))) or None


class CreateBranch(_LakeFSAction):
    name = "lakefs-branch"

    def __init__(self, client: LakeFSClient, repo: str, branch: str, source: str) -> None:
        super().__init__(client, repo)
        self.branch = m.validate_branch(branch)
        self.source = m.validate_ref(source)

    def plan(self) -> Plan:
        existing = {b.name for b in self.client.branches(self.repo)}
        if self.branch in existing:
            raise MlopsError(Kind.CONFLICT, f"branch {self.branch} already exists in {self.repo}")
        head = self.client.log(self.repo, self.source, limit=1)
        commit = head[0] if head else None
        body = {"name": self.branch, "source": self.source}
        return Plan(action=self.name, summary=f"create branch {self.branch} from {self.source} in {self.repo}",
                    target=self._target(f"branches/{self.branch}"), context=self._where,
                    patch={"method": "POST", "path": f"/repositories/{self.repo}/branches", "body": body},
                    patch_type="LakeFS API request", risk="low",
                    before={"source_commit": commit.id if commit else None},
                    notes=[f"{self.source} is at {commit.short} {commit.message!r}" if commit else "",
                           "zero-copy: a branch is a pointer to a commit, no object is copied"])

    def _apply(self, plan: Plan) -> Result:
        ref = self.client.create_branch(self.repo, self.branch, self.source)
        return Result(True, f"created branch {self.branch} at {ref[:12]}", data={"branch": self.branch,
                                                                                  "commit_id": ref})

    def observe(self, plan: Plan) -> bool | None:
        head = self._head(self.branch)
        if head is None:
            return None
        return False if head == "" else (head == (plan.before or {}).get("source_commit") or None)


class DeleteBranch(_LakeFSAction):
    name = "lakefs-branch-delete"

    def __init__(self, client: LakeFSClient, repo: str, branch: str) -> None:
        super().__init__(client, repo)
        self.branch = m.validate_branch(branch)

    def plan(self) -> Plan:
        repo = self.client.repository(self.repo)
        if self.branch == repo.default_branch:
            raise MlopsError(Kind.REFUSED, f"{self.branch} is the default branch of {self.repo}: not deleted",
                             hint="LakeFS refuses to delete a repository's default branch")
        br = self.client.branch(self.repo, self.branch)
        unmerged = self.client.diff(self.repo, repo.default_branch, self.branch)
        dirty = self.client.uncommitted(self.repo, self.branch)
        notes = []
        risk = "medium"
        if unmerged:
            risk = "high"
            notes.append(f"not merged into {repo.default_branch}: {m.diff_summary(unmerged)}")
        if dirty:
            risk = "high"
            notes.append(f"uncommitted changes are discarded: {m.diff_summary(dirty)}")
        notes.append(f"its commits stay reachable by id ({br.commit_id[:12]}) until garbage collection")
        return Plan(action=self.name, summary=f"delete branch {self.branch} of {self.repo}",
                    target=self._target(f"branches/{self.branch}"), context=self._where,
                    patch={"method": "DELETE", "path": f"/repositories/{self.repo}/branches/{self.branch}"},
                    patch_type="LakeFS API request", risk=risk, notes=notes,
                    before={"commit_id": br.commit_id})

    def _apply(self, plan: Plan) -> Result:
        self.client.delete_branch(self.repo, self.branch)
        return Result(True, f"deleted branch {self.branch}", data={"branch": self.branch})

    def observe(self, plan: Plan) -> bool | None:
        head = self._head(self.branch)
        return None if head is None else head == ""


class RevertCommit(_LakeFSAction):
    name = "lakefs-revert"

    def __init__(self, client: LakeFSClient, repo: str, branch: str, commit: str, parent_number: int = 0) -> None:
        super().__init__(client, repo)
        self.branch = m.validate_branch(branch)
        self.commit = m.validate_ref(commit)
        if not isinstance(parent_number, int) or parent_number < 0 or parent_number > 16:
            raise MlopsError(Kind.INVALID, f"parent number must be 0..16, not {parent_number!r}")
        self.parent_number = parent_number

    def plan(self) -> Plan:
        c = self.client.commit(self.repo, self.commit)
        if c.is_merge and self.parent_number < 1:
            raise MlopsError(Kind.INVALID, f"{c.short} is a merge commit: say which parent to revert to",
                             hint="--parent 1 (the destination side) or 2 (the merged branch)")
        if not c.parents:
            raise MlopsError(Kind.INVALID, f"{c.short} is the repository's first commit: nothing to revert")
        dirty = self.client.uncommitted(self.repo, self.branch)
        if dirty:
            raise MlopsError(Kind.CONFLICT, f"branch {self.branch} has uncommitted changes "
                                            f"({m.diff_summary(dirty)}): LakeFS reverts only on a clean branch",
                             hint="commit or reset them first")
        parent = c.parents[max(self.parent_number - 1, 0)]
        head = self.client.branch(self.repo, self.branch).commit_id
        undone = self.client.diff(self.repo, c.id, parent, two_dot=True)
        body = {"ref": c.id, "parent_number": self.parent_number}
        return Plan(action=self.name, summary=f"revert {c.short} {c.message!r} on {self.repo}/{self.branch}",
                    target=self._target(f"branches/{self.branch}"), context=self._where,
                    patch={"method": "POST", "path": f"/repositories/{self.repo}/branches/{self.branch}/revert",
                           "body": body},
                    patch_type="LakeFS API request", risk="medium",
                    before={"commit": c.to_dict(), "head": head},
                    notes=[f"a new commit on {self.branch} undoes: {m.diff_summary(undone)}",
                           *[f"  {d.type} {d.path}" for d in undone[:10]],
                           "a path changed again since that commit makes LakeFS refuse (conflict)"])

    def _apply(self, plan: Plan) -> Result:
        self.client.revert(self.repo, self.branch, plan.patch["body"]["ref"], self.parent_number)
        return Result(True, f"reverted {self.commit[:12]} on {self.branch}",
                      data={"branch": self.branch, "reverted": plan.patch["body"]["ref"]})

    def observe(self, plan: Plan) -> bool | None:  # LakeFS's revert commit: one parent, "Revert <ref>"
        return self._new_commit(self.branch, (plan.before or {}).get("head"), (), "Revert")


class MergeBranch(_LakeFSAction):
    name = "lakefs-merge"

    def __init__(self, client: LakeFSClient, repo: str, source: str, dest: str, message: str | None = None) -> None:
        super().__init__(client, repo)
        self.source = m.validate_ref(source)
        self.dest = m.validate_branch(dest)
        self.message = message

    def plan(self) -> Plan:
        incoming = self.client.diff(self.repo, self.dest, self.source)  # three-dot: what source brings
        theirs = self.client.diff(self.repo, self.source, self.dest)  # what dest changed since the base
        conflicts = m.merge_conflicts(incoming, theirs)
        dirty = self.client.uncommitted(self.repo, self.dest)
        if dirty:
            raise MlopsError(Kind.CONFLICT, f"{self.dest} has uncommitted changes ({m.diff_summary(dirty)}): "
                                            "LakeFS merges only into a clean branch", hint="commit or reset them first")
        if not incoming:
            raise MlopsError(Kind.INVALID, f"nothing to merge: {self.dest} already has every change of {self.source}")
        risk = "high" if conflicts else "medium"
        notes = [f"{m.diff_summary(incoming)} from {self.source}:",
                 *[f"  {d.type} {d.path} ({m.fmt_size(d.size_bytes)})" for d in incoming[:15]]]
        if len(incoming) > 15:
            notes.append(f"  ... {len(incoming) - 15} more")
        if conflicts:
            notes.append(f"conflicts: {self.dest} also changed {', '.join(conflicts[:10])}: LakeFS will refuse "
                         f"unless both made the same change")
        body: dict = {"message": self.message} if self.message else {}
        heads = {"dest_head": self.client.branch(self.repo, self.dest).commit_id,
                 "source_commit": next((c.id for c in self.client.log(self.repo, self.source, limit=1)), None)}
        return Plan(action=self.name, summary=f"merge {self.source} into {self.dest} in {self.repo}",
                    target=self._target(f"branches/{self.dest}"), context=self._where,
                    patch={"method": "POST", "path": f"/repositories/{self.repo}/refs/{self.source}/merge/{self.dest}",
                           "body": body},
                    patch_type="LakeFS API request", risk=risk, notes=notes,
                    before={"diff": [d.to_dict() for d in incoming[:200]], "conflicts": conflicts, **heads})

    def _apply(self, plan: Plan) -> Result:
        try:
            ref = self.client.merge(self.repo, self.source, self.dest, self.message)
        except MlopsError as exc:
            if exc.kind is Kind.CONFLICT:
                conflicts = (plan.before or {}).get("conflicts") or []
                return Result(False, "LakeFS refused the merge: conflict"
                                     + (f" on {', '.join(conflicts[:10])}" if conflicts else ""),
                              data={"conflicts": conflicts})
            raise
        return Result(True, f"merged {self.source} into {self.dest}: commit {ref[:12]}", data={"commit_id": ref})

    def observe(self, plan: Plan) -> bool | None:  # a merge commit: parents the old head and the source's
        before = plan.before or {}
        return self._new_commit(self.dest, before.get("dest_head"), (before.get("source_commit") or "",))


class DvcTransfer(Action):
    """`dvc push TARGET` or `dvc pull TARGET` through DVC's API, with DVC's progress lines."""

    def __init__(self, root: str | Path, verb: str, target: str, *, remote: str | None = None,
                 on_progress: Callable[[str], None] | None = None, timeout: float = 900.0) -> None:
        if verb not in ("push", "pull"):
            raise MlopsError(Kind.INVALID, f"dvc {verb}: only push and pull")
        m.validate_path(target)
        if target.startswith("/") or ".." in Path(target).parts:
            raise MlopsError(Kind.INVALID, f"target {target!r} must be a path inside the DVC project")
        self.root = Path(root)
        self.verb = verb
        self.name = f"dvc-{verb}"
        self.target = target
        self.remote = remote
        self.on_progress = on_progress
        self.timeout = timeout

    def plan(self) -> Plan:
        from mlopstui.backends import dvc

        project = dvc.status(self.root, remote=self.remote, timeout=min(self.timeout, 120.0))
        want = self.target.removesuffix(".dvc")
        outs = [o for o in project.outs if o.path == want or o.source == self.target]
        if not outs:
            tracked = ", ".join(o.path for o in project.outs) or "none"
            raise MlopsError(Kind.NOT_FOUND, f"{self.target} is not tracked by DVC in {project.root}",
                             hint=f"tracked: {tracked}")
        remote_name = self.remote or outs[0].remote or project.default_remote
        remote = next((r for r in project.remotes if r.name == remote_name), None)
        if remote is None:
            raise MlopsError(Kind.CONFIG, f"no DVC remote {remote_name or '(default)'} in {project.root}",
                             hint="dvc remote add -d NAME s3://bucket/path")
        notes = [f"{o.path}: {o.status} ({m.fmt_size(o.size)}, md5 {o.md5 or '-'})" for o in outs]
        risk = "low"
        if remote.is_s3 and not remote.endpointurl:
            risk = "high"
            notes.append(f"remote {remote.name} has no endpointurl: this goes to public AWS S3, not your S3 server")
        if self.verb == "pull":
            notes.append("overwrites the workspace copy of the target with the tracked version")
            risk = "medium" if risk == "low" else risk
        return Plan(action=self.name, summary=f"dvc {self.verb} {outs[0].path} ({remote.name}: {remote.url})",
                    target=f"dvc/{project.root}/{outs[0].path}", context=f"remote {remote.name} {remote.url}"
                    + (f" endpointurl {remote.endpointurl}" if remote.endpointurl else ""),
                    patch={"command": ["dvc", self.verb, *(["-r", self.remote] if self.remote else []), outs[0].path],
                           "api": f"dvc.repo.Repo.{self.verb}(targets=[{outs[0].path!r}], remote={self.remote!r})"},
                    patch_type="DVC", risk=risk, notes=notes, before={"status": outs[0].status})

    def _apply(self, plan: Plan) -> Result:
        from mlopstui.backends import dvc

        path = self.target.removesuffix(".dvc")
        out = dvc.transfer(self.root, self.verb, path, remote=self.remote, timeout=self.timeout,
                           on_progress=self.on_progress)
        n = out.get("transferred", 0)
        word = "pushed" if self.verb == "push" else "pulled"
        return Result(True, f"{word} {n} file{'s' if n != 1 else ''} of {path}", data=out)
