"""Headless Data verbs: `lakefs repos|branches|log|diff|objects|show|branch|revert|merge`, `dvc status|push|pull`."""

from __future__ import annotations

import argparse
import sys

from mlopstui.commands._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_global_flags,
    add_write_flags,
    emit,
    listing,
    make_context,
    run_action,
    table,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lakefs", help="LakeFS repositories, branches, commits, diffs and objects; branch, revert, "
                                      "merge")
    lsub = p.add_subparsers(dest="lakefs_verb", metavar="SUBVERB", required=True)

    def verb(name: str, help_: str, func):
        q = lsub.add_parser(name, help=help_)
        add_global_flags(q, suppress=True)
        q.set_defaults(func=func)
        return q

    # the listings take -o wide|name too; -o name prints lakefs:// URIs, as lakectl names things
    listing(verb("repos", "repositories with their storage namespace and default branch", cmd_repos))
    q = verb("branches", "branches and tags of a repository", cmd_branches)
    listing(q)
    q.add_argument("repo")
    q = verb("log", "the commit log of a ref (default: the default branch)", cmd_log)
    listing(q)
    q.add_argument("repo")
    q.add_argument("ref", nargs="?")
    q.add_argument("--limit", type=int, default=50, help="at most this many commits (1-1000)")
    q = verb("diff", "what RIGHT changed relative to LEFT (three-dot, from their merge base)", cmd_diff)
    listing(q)
    q.add_argument("repo")
    q.add_argument("left")
    q.add_argument("right")
    q.add_argument("--two-dot", action="store_true", help="compare the two refs directly")
    q.add_argument("--prefix", default=None)
    q = verb("objects", "objects under a prefix of a ref", cmd_objects)
    listing(q)
    q.add_argument("repo")
    q.add_argument("ref")
    q.add_argument("prefix", nargs="?", default="")
    q.add_argument("--recursive", "-r", action="store_true", help="no delimiter: every object under the prefix")
    q = verb("show", "preview an object (text, CSV, JSON; Parquet schema)", cmd_show)
    q.add_argument("repo")
    q.add_argument("ref")
    q.add_argument("path")
    q = verb("branch", "create a branch from a ref (or delete one with --delete)", cmd_branch)
    q.add_argument("repo")
    q.add_argument("name")
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--from", dest="source", metavar="REF", help="the ref to branch from")
    g.add_argument("--delete", action="store_true", help="delete the branch (never the default branch)")
    add_write_flags(q)
    q = verb("revert", "revert a commit on a branch (a new commit undoing it)", cmd_revert)
    q.add_argument("repo")
    q.add_argument("branch")
    q.add_argument("commit")
    q.add_argument("--parent", type=int, default=0, help="for a merge commit: the parent (1-based) to revert to")
    add_write_flags(q)
    q = verb("merge", "merge SOURCE into DEST (the diff is shown first; conflicts are reported)", cmd_merge)
    q.add_argument("repo")
    q.add_argument("source")
    q.add_argument("dest")
    q.add_argument("-m", "--message", default=None)
    add_write_flags(q)

    p = sub.add_parser("dvc", help="the DVC project (endpoints.dvc_repo): tracked data, `dvc status -c`, push/pull")
    dsub = p.add_subparsers(dest="dvc_verb", metavar="SUBVERB", required=True)
    q = dsub.add_parser("status", help="tracked outputs with size, md5, last commit and remote status (exit 1 if "
                                       "any is not in the remote)")
    add_global_flags(q, suppress=True)
    q.add_argument("--remote", "-r", default=None)
    listing(q)
    q.set_defaults(func=cmd_dvc_status)
    for name in ("push", "pull"):
        q = dsub.add_parser(name, help=f"dvc {name} of one target, with progress")
        add_global_flags(q, suppress=True)
        q.add_argument("target", help="a tracked path (or its .dvc file)")
        q.add_argument("--remote", "-r", default=None)
        q.add_argument("--timeout", type=float, default=900.0)
        add_write_flags(q)
        q.set_defaults(func=cmd_dvc_transfer, dvc_name=name)


def _client(args):
    from mlopstui.backends import lakefs

    ctx = make_context(args)
    return ctx, lakefs.client(ctx)


def _checked_ref(args, path: str) -> str:
    """The repository, ref and path of an object verb checked before any request (exit 2); the ref."""
    from mlopstui.models import data as m

    m.validate_repo(args.repo)
    ref = m.validate_ref(args.ref)
    m.validate_path(path)
    return ref


def cmd_repos(args) -> int:
    from mlopstui.models import data as m

    _, c = _client(args)
    with c:
        repos = c.repositories()
    emit(args, {"repositories": [r.to_dict() for r in repos], "endpoint": c.source},
         lambda: table([(r.id, r.storage_namespace, r.default_branch, m.fmt_time(r.created)) for r in repos],
                       ["repository", "storage namespace", "default branch", "created"]),
         names=[f"lakefs://{r.id}" for r in repos])
    return EXIT_OK


def cmd_branches(args) -> int:
    from mlopstui.models import data as m

    m.validate_repo(args.repo)
    _, c = _client(args)
    with c:
        repo = c.repository(args.repo)
        refs = c.branches(args.repo) + c.tags(args.repo)
    def rows(wide: bool = False) -> list[tuple]:
        return [(r.name + (" (default)" if r.name == repo.default_branch else ""), r.kind,
                 r.commit_id if wide else r.commit_id[:12]) for r in refs]

    emit(args, {"repository": repo.to_dict(), "refs": [r.to_dict() for r in refs]},
         lambda: table(rows(), ["ref", "kind", "commit"]), wide=lambda: table(rows(True), ["ref", "kind", "commit"]),
         names=[f"lakefs://{args.repo}/{r.name}" for r in refs])
    return EXIT_OK


def cmd_log(args) -> int:
    from mlopstui.errors import Kind, MlopsError
    from mlopstui.models import data as m

    m.validate_repo(args.repo)
    if not 1 <= args.limit <= 1000:
        raise MlopsError(Kind.INVALID, "--limit must be 1..1000")
    _, c = _client(args)
    with c:
        ref = m.validate_ref(args.ref) if args.ref else c.repository(args.repo).default_branch
        commits = c.log(args.repo, ref, limit=args.limit)
    def text(wide: bool = False) -> str:
        return table([(x.id if wide else x.short, m.fmt_time(x.created), x.committer or "-", x.message,
                       ",".join(f"{k}={v}" for k, v in x.metadata.items())[:None if wide else 60]) for x in commits],
                     ["commit", "time", "committer", "message", "metadata"])

    emit(args, {"repository": args.repo, "ref": ref, "commits": [x.to_dict() for x in commits]}, text,
         wide=lambda: text(True), names=[f"lakefs://{args.repo}/{x.id}" for x in commits])
    return EXIT_OK


def cmd_diff(args) -> int:
    from mlopstui.models import data as m

    m.validate_repo(args.repo)
    left, right = m.validate_ref(args.left), m.validate_ref(args.right)
    _, c = _client(args)
    with c:
        entries = c.diff(args.repo, left, right, two_dot=args.two_dot, prefix=args.prefix)
    emit(args, {"repository": args.repo, "left": left, "right": right, "type": "two_dot" if args.two_dot else
                "three_dot", "counts": m.diff_counts(entries), "diff": [e.to_dict() for e in entries]},
         lambda: "\n".join([table([(e.type, e.path, m.fmt_size(e.size_bytes)) for e in entries],
                                  ["change", "path", "size"]), m.diff_summary(entries)]),
         names=[f"lakefs://{args.repo}/{right}/{e.path}" for e in entries])
    return EXIT_OK


def cmd_objects(args) -> int:
    from mlopstui.models import data as m

    ref = _checked_ref(args, args.prefix)
    _, c = _client(args)
    with c:
        objs = c.objects(args.repo, ref, args.prefix, delimiter="" if args.recursive else "/")
    emit(args, {"repository": args.repo, "ref": ref, "prefix": args.prefix, "objects": [o.to_dict() for o in objs]},
         lambda: table([(o.path, "dir" if o.is_prefix else m.fmt_size(o.size_bytes), m.fmt_time(o.mtime),
                         o.content_type or "-") for o in objs], ["path", "size", "modified", "content type"]),
         names=[f"lakefs://{args.repo}/{ref}/{o.path}" for o in objs])
    return EXIT_OK


def cmd_show(args) -> int:
    from mlopstui.backends import lakefs

    ref = _checked_ref(args, args.path)
    _, c = _client(args)
    with c:
        pv = lakefs.preview(c, args.repo, ref, args.path)
    emit(args, pv.to_dict(), pv.render)
    return EXIT_OK


def _write(args, build) -> int:
    """A LakeFS write verb: the action built on the client (bad input refused before any request), then
    plan -> confirm -> apply."""
    ctx, c = _client(args)
    with c:
        return run_action(args, ctx, build(c))


def cmd_branch(args) -> int:
    from mlopstui.actions.data import CreateBranch, DeleteBranch

    return _write(args, lambda c: DeleteBranch(c, args.repo, args.name) if args.delete
                  else CreateBranch(c, args.repo, args.name, args.source))


def cmd_revert(args) -> int:
    from mlopstui.actions.data import RevertCommit

    return _write(args, lambda c: RevertCommit(c, args.repo, args.branch, args.commit, args.parent))


def cmd_merge(args) -> int:
    from mlopstui.actions.data import MergeBranch

    return _write(args, lambda c: MergeBranch(c, args.repo, args.source, args.dest, args.message))


def cmd_dvc_status(args) -> int:
    from mlopstui.backends import dvc
    from mlopstui.models import data as m

    ctx = make_context(args)
    root, _ = dvc.repo_path(ctx)
    project = dvc.status(root, remote=args.remote)

    def text() -> str:
        rows = [(o.path, o.status, m.fmt_size(o.size), (o.md5 or "-")[:12], o.source,
                 f"{o.last_commit or '-'} {o.last_commit_subject or ''}".strip()) for o in project.outs]
        out = [f"project {project.root} (git {project.git_commit or '-'})",
               table(rows, ["path", "remote status", "size", "md5", "tracked by", "last commit"])]
        for r in project.remotes:
            out.append(f"remote {r.name}{' (default)' if r.is_default else ''}: {r.url}  endpointurl "
                       f"{r.endpointurl or '(none: public AWS)'}")
        if project.remote_error:
            out.append(f"remote status unknown: {project.remote_error}")
        return "\n".join(out)

    emit(args, project.to_dict(), text, names=[o.path for o in project.outs])
    missing = [o for o in project.outs if o.status != "in-remote"]
    return EXIT_FAILED if missing else EXIT_OK


def cmd_dvc_transfer(args) -> int:
    from mlopstui.actions.data import DvcTransfer
    from mlopstui.backends import dvc

    ctx = make_context(args)
    root, _ = dvc.repo_path(ctx)
    quiet = getattr(args, "json", False)
    action = DvcTransfer(root, args.dvc_name, args.target, remote=args.remote, timeout=args.timeout,
                         on_progress=None if quiet else (lambda line: print(line, file=sys.stderr, flush=True)))
    return run_action(args, ctx, action)
