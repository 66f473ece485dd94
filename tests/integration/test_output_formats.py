"""kubectl's output conventions on every listing verb: the table, -o wide, -o name, -o json, -o yaml.

Each verb runs in-process (mlopstui.cli.main) against the session sandbox. The expected names of
-o name come from the JSON document of the same listing, the wide columns from the verb's help.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from mlopstui.cli import main
from mlopstui.commands._common import SCHEMA_VERSION

pytestmark = pytest.mark.integration

NAME_LINE = re.compile(r"^([a-z][a-z.]*/|lakefs://)\S+$")


# verb argv, the JSON key its objects are under, kind/name of each (from the JSON), a wide-only column
VERBS = {
    "status": (["status"], lambda d: [f"component/{c['id']}" for c in d["components"]], "IMAGES"),
    "doctor": (["doctor"], lambda d: [f"finding/{f['id']}" for f in d["findings"]], "FIX"),
    "doctor-rules": (["doctor", "--rules"], lambda d: [f"rule/{r['id']}" for r in d["rules"]], None),
    "experiments": (["experiments"], lambda d: [f"experiment/{e['name']}" for e in d["experiments"]],
                    "ARTIFACT LOCATION"),
    "runs": (["runs", "fraud-detection"], lambda d: [f"run/{r['run_id']}" for r in d["runs"]], "SOURCE"),
    "models": (["models"], lambda d: [f"registeredmodel/{m['name']}" for m in d["models"]], "DESCRIPTION"),
    "model-versions": (["models", "fraud-detection"],
                       lambda d: [f"modelversion/fraud-detection/{v['version']}" for v in d["versions"]], "TAGS"),
    "features": (["features"], lambda d: [f"featureview/{v['name']}" for v in d["views"]], "ONLINE"),
    "isvc": (["isvc"], lambda d: [f"inferenceservice.serving.kserve.io/{i['name']}" for i in d["items"]],
             "STORAGE-URI"),
    "repair": (["repair"], lambda d: [f"finding/{f['id']}" for f in d["findings"]], "SUMMARY"),
    "install": (["install", "--list"], lambda d: [f"component/{c['id']}" for c in d["components"]], "TITLE"),
    # LakeFS objects are named by their lakefs:// URI, as lakectl names them
    "lakefs-repos": (["lakefs", "repos"], lambda d: [f"lakefs://{r['id']}" for r in d["repositories"]], None),
    "lakefs-branches": (["lakefs", "branches", "fraud-datasets"],
                        lambda d: [f"lakefs://fraud-datasets/{r['name']}" for r in d["refs"]], None),
    "lakefs-log": (["lakefs", "log", "fraud-datasets"],
                   lambda d: [f"lakefs://fraud-datasets/{c['id']}" for c in d["commits"]], None),
    "lakefs-objects": (["lakefs", "objects", "fraud-datasets", "main"],
                       lambda d: [f"lakefs://fraud-datasets/main/{o['path']}" for o in d["objects"]], None),
}


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_on(sandbox, capsys, *argv):
    code = main([*argv, "--config", str(sandbox.config_path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def header(text: str) -> str:
    """The column header of a table (all capitals), or "" when the text is no table."""
    return next((ln for ln in text.splitlines() if ln and ln == ln.upper() and ln[0].isalpha()), "")


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_format_of_a_listing_verb(sandbox_env, capsys, verb):
    argv, names_of, wide_col = VERBS[verb]
    def run(capsys, *more):
        return run_on(sandbox_env, capsys, *more)

    code_t, table, _ = run(capsys, *argv)
    code_j, out_j, _ = run(capsys, *argv, "-o", "json")
    doc = json.loads(out_j)
    assert doc["schemaVersion"] == SCHEMA_VERSION
    assert code_j == code_t  # the exit code does not depend on the format
    if verb == "isvc":  # --json is an alias of -o json (one mechanism: checked on one verb)
        _, out_alias, _ = run(capsys, *argv, "--json")
        assert json.loads(out_alias) == doc
    _, out_y, _ = run(capsys, *argv, "-o", "yaml")
    ydoc = yaml.safe_load(out_y)
    assert ydoc["schemaVersion"] == SCHEMA_VERSION and ydoc.keys() == doc.keys()
    # -o name: one kind/name a line, the objects of the listing
    _, out_n, _ = run(capsys, *argv, "-o", "name")
    lines = out_n.splitlines()
    assert lines == names_of(doc) and lines, out_n
    assert all(NAME_LINE.match(x) for x in lines), lines
    # -o wide: the table's columns and more
    _, out_w, _ = run(capsys, *argv, "-o", "wide")
    head_t, head_w = header(table), header(out_w)
    assert head_w, out_w
    assert set(head_t.split()) <= set(head_w.split())
    if wide_col:
        assert wide_col in head_w and wide_col not in head_t


def test_runs_order_by_is_not_o(sandbox_env, capsys):
    # `-o json` is the output format, never --order-by json (which sorted by metrics.json)
    code, out, _ = run_on(sandbox_env, capsys, "runs", "fraud-detection", "-o", "json")
    assert code == 0 and json.loads(out)["order_by"] == []
    code, out, _ = run_on(sandbox_env, capsys, "runs", "fraud-detection", "--order-by=-accuracy", "-o", "json")
    doc = json.loads(out)
    assert doc["order_by"] == ["metrics.`accuracy` DESC"]
    acc = [r["metrics"]["accuracy"] for r in doc["runs"] if "accuracy" in r["metrics"]]
    assert acc == sorted(acc, reverse=True) and len(acc) > 1


def test_sandbox_status_formats(sandbox, capsys):
    d = str(sandbox.dir)
    code, out, _ = run(capsys, "sandbox", "status", "--dir", d, "-o", "name")
    from mlopstui.sandbox.manager import active_parts

    assert code == 0 and out.split() == [f"part/{p}" for p in active_parts()]
    _, out, _ = run(capsys, "sandbox", "status", "--dir", d, "-o", "wide")
    assert "LOG" in out.splitlines()[0]
    _, out, _ = run(capsys, "sandbox", "status", "--dir", d, "-o", "yaml")
    assert yaml.safe_load(out)["schemaVersion"] == SCHEMA_VERSION


# -- errors, refusals and --dry-run on the API emulator (no sandbox) -----------------------------------
@pytest.fixture
def cluster(tmp_path, monkeypatch):

    from support.serving import serving_cluster

    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("MLOPSTUI_CONFIG", raising=False)
    monkeypatch.setenv("MLOPSTUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    with serving_cluster(tmp_path) as c:
        c.audit = tmp_path / "audit.jsonl"
        yield c


def on(cluster, capsys, *argv):
    return run(capsys, *argv, "--kubeconfig", str(cluster.kubeconfig), "--context", "mlopstui-sandbox",
               "-n", "mlops")


def test_error_goes_to_stderr_and_is_a_document_with_o_json(cluster, capsys):
    code, out, err = on(cluster, capsys, "isvc", "nope")
    assert code == 1 and out == "" and "error:" in err and "nope" in err
    code, out, err = on(cluster, capsys, "isvc", "nope", "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["schemaVersion"] == SCHEMA_VERSION and doc["error"]["kind"] == "not-found"
    assert "error:" in err
    code, out, err = on(cluster, capsys, "isvc", "nope", "-o", "yaml")
    assert yaml.safe_load(out)["error"]["kind"] == "not-found" and "error:" in err


def test_wide_and_name_refused_on_a_write_verb_without_requests(cluster, capsys):
    mark = cluster.mark()
    code, _, err = on(cluster, capsys, "canary", "fraud-detection", "30", "--yes", "-o", "wide")
    assert code == 2 and "listing verbs" in err
    code, _, err = on(cluster, capsys, "repair", "redis-no-maxmemory", "--dry-run", "-o", "name")
    assert code == 2 and "-o name is for listings" in err
    assert cluster.srv.request_log[mark:] == []


def test_dry_run_server_sends_dry_run_all_and_changes_nothing(cluster, capsys):
    before = cluster.status_of("fraud-detection")
    mark = cluster.mark()
    code, out, err = on(cluster, capsys, "canary", "fraud-detection", "40", "--dry-run=server", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["dryRun"] == "server" and doc["applied"] is False and doc["result"]["ok"] is True
    patches = cluster.writes(mark)
    assert len(patches) == 1 and "dryRun=All" in patches[0]["query"]
    after = cluster.status_of("fraud-detection")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert not cluster.audit.exists() or cluster.audit.read_text() == ""  # nothing changed: nothing audited
    # a bare --dry-run is client: nothing is sent; --dry-run=none is a real write (needs --yes)
    mark = cluster.mark()
    code, out, _ = on(cluster, capsys, "canary", "fraud-detection", "40", "--dry-run")
    assert code == 0 and "dry run" in out and cluster.writes(mark) == []
    code, _, err = on(cluster, capsys, "canary", "fraud-detection", "40", "--dry-run=server", "--readonly")
    assert code == 2 and "read-only" in err and cluster.writes(mark) == []


# -- the Pipelines listings (Argo objects from upstream fixtures, on the emulator) ---------------------
def _argo_api():
    import importlib.util
    from pathlib import Path

    # a fixture module of another test file (issue 15's): loaded by path, not through sys.path
    path = Path(__file__).resolve().parent / "test_pipelines_cli.py"
    spec = importlib.util.spec_from_file_location("test_pipelines_cli", path)
    test_pipelines_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_pipelines_cli)

    return test_pipelines_cli


argo = _argo_api()
api = argo.api  # the module fixture: workflows, a KFP run, a WorkflowTemplate


@pytest.mark.parametrize("verb,kind", [
    ("workflows", "workflow.argoproj.io"),
    ("cron-workflows", "cronworkflow.argoproj.io"),
    ("workflow-templates", "workflowtemplate.argoproj.io"),
])
def test_pipelines_listings_every_format(api, capsys, verb, kind):
    code, out, _ = argo.run(api, capsys, verb, "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["schemaVersion"] == SCHEMA_VERSION
    _, out_y, _ = argo.run(api, capsys, verb, "-o", "yaml")
    assert yaml.safe_load(out_y).keys() == doc.keys()  # durations move with the clock
    _, out_n, _ = argo.run(api, capsys, verb, "-o", "name")
    assert out_n.split() == [f"{kind}/{i['name']}" for i in doc["items"]]
    _, out_w, _ = argo.run(api, capsys, verb, "-o", "wide")
    _, out_t, _ = argo.run(api, capsys, verb)
    assert set(header(out_t).split()) <= set(header(out_w).split()) or not doc["items"]
