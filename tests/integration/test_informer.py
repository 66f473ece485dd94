"""backends/informer.py against the Kubernetes API emulator over HTTP (issue 20): list once then watch,
no list call while idle, recovery from 410 Gone and from a dropped connection without anyone asking."""

from __future__ import annotations

import time

import pytest

from mlopstui.backends.informer import ABSENT, LIVE, STALE, Informer, Informers
from mlopstui.backends.kserve import IsvcWatch
from mlopstui.backends.kube import (
    CONFIGMAPS,
    FEATURESTORES_V1,
    INFERENCESERVICES,
    NAMESPACES,
    SECRETS,
    SERVICES,
    KubeClient,
)
from mlopstui.sandbox.kubeapi import KubeApiServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("kubeapi-informer")), port=0, run_controllers=False).start()
    s.bookmark_interval = 0.2
    yield s
    s.stop()


@pytest.fixture
def kube(srv):
    k = KubeClient.from_settings(srv.kubeconfig_path, None, "default")
    yield k
    k.close()


def wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def names(inf: Informer) -> set[str]:
    return {o["metadata"]["name"] for o in inf.items()}


def requests(srv, since: float) -> list[dict]:
    return [e for e in list(srv.request_log) if e["time"] >= since]


def test_idle_cache_makes_no_list_call_only_watches(srv, kube):
    ns = "idle"
    kube.create(NAMESPACES,
                {"metadata": {"name": ns}})
    kube.create(CONFIGMAPS, {"metadata": {"name": "one"}}, ns)
    inf = Informer(kube, CONFIGMAPS, ns, watch_timeout=1).start()
    try:
        assert inf.wait_synced(10) and names(inf) == {"one"}
        t0 = time.time()
        kube.create(CONFIGMAPS, {"metadata": {"name": "two"}}, ns)
        kube.delete(CONFIGMAPS, "one", ns)
        wait(lambda: names(inf) == {"two"})
        wait(lambda: inf.watches >= 3, 8)  # the 1 s watches ran out twice: reopened from the resourceVersion
        reqs = [e for e in requests(srv, t0) if f"/namespaces/{ns}/configmaps" in e["path"] and e["method"] == "GET"]
        assert reqs and all("watch=1" in e["query"] for e in reqs), reqs  # no list while idle
        assert inf.lists == 1 and inf.state.state == LIVE
        assert int(inf.resource_version) >= srv.store.rv - 1  # bookmarks kept it current
    finally:
        inf.close()


def test_410_and_dropped_connection_recover_by_themselves(srv, kube):
    inf = Informer(kube, CONFIGMAPS, "default", watch_timeout=30, backoff=(0.05, 0.5)).start()
    try:
        assert inf.wait_synced(10)
        lists = inf.lists
        # the API server goes away mid-watch: the cache says stale, keeps its objects, retries
        srv.drop_watches(hold=True)
        wait(lambda: inf.state.state == STALE)
        assert inf.state.since and inf.state.describe().startswith("stale since")
        kube.create(CONFIGMAPS, {"metadata": {"name": "while-away"}})
        srv.store.compact()  # and the history it would resume from is gone: 410 on the next watch
        kube.create(CONFIGMAPS, {"metadata": {"name": "after-compaction"}})
        srv.release_watches()
        wait(lambda: {"while-away", "after-compaction"} <= names(inf))
        assert inf.lists == lists + 1  # relisted once, on the 410
        assert inf.state.state == LIVE
        # a plain drop (no 410): it watches again from its resourceVersion, no list
        srv.drop_watches()
        kube.create(CONFIGMAPS, {"metadata": {"name": "after-drop"}})
        wait(lambda: "after-drop" in names(inf))
        assert inf.lists == lists + 1
        # down and back with nothing changed meanwhile: live again as soon as the watch reopens
        srv.drop_watches(hold=True)
        wait(lambda: inf.state.state == STALE)
        srv.release_watches()
        wait(lambda: inf.state.state == LIVE)
    finally:
        t0 = time.monotonic()
        inf.close()
        assert time.monotonic() - t0 < 2.5 and not inf._thread.is_alive()


def test_isvc_watch_builds_the_serving_list_from_the_cache(srv, kube):
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "fraud", "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/1"}}}}
    changes = []
    w = IsvcWatch(kube, "default", on_change=lambda: changes.append(1)).start()
    try:
        assert w.wait_synced(10)
        assert w.isvcs() == [] and w.state.state == LIVE
        kube.create(INFERENCESERVICES, isvc, "default")
        wait(lambda: [s.name for s in w.isvcs()] == ["fraud"])
        kube.merge_patch(INFERENCESERVICES, "fraud", {"spec": {"predictor": {"canaryTrafficPercent": 10}}}, "default")
        wait(lambda: w.isvcs()[0].canary_percent == 10)
        assert changes
    finally:
        w.close()


def test_close_ends_a_wait_for_the_first_list_at_once(tmp_path):
    """A caller waiting for a cache's first list (the Serving load, the Stack sweep: kube_timeout + 1 s)
    returns as soon as the cache is closed (a context switch, the app's exit), not at its own timeout: the
    API server here accepts the connection and never answers."""
    import threading

    from support.fault_servers import HungServer, kubeconfig_for

    hung = HungServer()
    kube = KubeClient.from_settings(kubeconfig_for(f"http://127.0.0.1:{hung.port}", tmp_path / "kubeconfig"),
                                    None, "mlops", timeout=30.0)
    inf = Informer(kube, CONFIGMAPS, "mlops").start()
    out: dict = {}

    def waiter() -> None:
        t0 = time.monotonic()
        out["synced"] = inf.wait_synced(30.0)
        out["waited"] = time.monotonic() - t0

    t = threading.Thread(target=waiter, daemon=True)
    try:
        t.start()
        time.sleep(0.3)
        assert t.is_alive()  # still waiting: the list has no answer
        inf.close(timeout=0.1)
        t.join(10)
        assert not t.is_alive() and out["synced"] is False
        assert out["waited"] < 5.0, out  # woken by close, far under the 30 s it asked for
    finally:
        inf.close(timeout=0.1)
        kube.close()
        hung.close()


def test_prime_lists_in_a_row_on_one_connection_then_watches(srv, kube):
    """Informers.prime (the first Stack rows): the first lists of many kinds one after another over one
    kept-alive connection, made before any watch opens (start=False); an optional kind that is not served
    is absent at once with no request of its own thread; start_all opens the watches from the lists'
    resourceVersions (no second list), and a change made between the lists and the watches is seen."""
    ns = "primed"
    kube.create(NAMESPACES, {"metadata": {"name": ns}})
    kube.create(CONFIGMAPS, {"metadata": {"name": "before"}}, ns)
    infs = Informers(kube, watch_timeout=30)
    specs = [(CONFIGMAPS, False), (SERVICES, False), (SECRETS, False), (INFERENCESERVICES, True),
             (FEATURESTORES_V1, True)]
    try:
        t0 = time.time()
        got = infs.prime(specs, start=False)
        lists = [e for e in requests(srv, t0) if e["method"] == "GET"]
        assert len(lists) == len(specs) and not [e for e in lists if "watch=" in e["query"]], lists
        assert len({e["peer"] for e in lists}) == 1, lists  # one connection
        assert [i.started for i in got] == [False] * len(specs)
        assert all(i.lists == 1 for i in got[:4]) and "before" in names(got[0])
        fs = got[4]
        assert fs.state.state == ABSENT and fs.lists == 0  # FeatureStore v1 is not served by this emulator
        kube.create(CONFIGMAPS, {"metadata": {"name": "between"}}, ns)  # after the list, before the watch
        t1 = time.time()
        infs.start_all()
        wait(lambda: {"before", "between"} <= names(got[0]))
        time.sleep(0.3)
        after = requests(srv, t1)
        assert not [e for e in after if e["method"] == "GET" and "watch=" not in e["query"]], after  # no list
        assert all(i.lists == 1 for i in got[:4]) and fs.lists == 0
        # priming again (the next sweep) makes no request: every cache has listed or is absent
        t2 = time.time()
        assert infs.prime(specs) == got
        time.sleep(0.2)
        assert not [e for e in requests(srv, t2) if "watch=" not in e["query"]]
    finally:
        infs.close()


def test_prime_leaves_a_failed_list_to_the_cache_thread(tmp_path):
    """A first list that fails (a server that is not there) is not a state of its own: the cache, once
    started, retries it with its backoff and says stale, as a cache that listed by itself would."""
    kube = KubeClient.from_settings(_dead_kubeconfig(tmp_path), None, "default", timeout=0.5)
    infs = Informers(kube, backoff=(0.05, 0.2))
    try:
        (inf,) = infs.prime([(CONFIGMAPS, False)], timeout=2.0)
        assert inf.started and inf.lists == 0
        wait(lambda: inf.state.state == STALE, 5)
    finally:
        infs.close()
        kube.close()


def _dead_kubeconfig(tmp_path) -> str:
    import socket

    from support.fault_servers import kubeconfig_for

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return str(kubeconfig_for(f"http://127.0.0.1:{port}", tmp_path / "kubeconfig"))


def test_prime_leaves_what_its_serial_budget_does_not_cover_to_parallel_lists(srv, kube, monkeypatch):
    """Past PRIME_SERIAL_S of lists in a row (a large cluster's lists are slow) the kinds left list in
    parallel, each cache on its own thread and connection, as before there was a prime."""
    from mlopstui.backends import informer

    monkeypatch.setattr(informer, "PRIME_SERIAL_S", 0.0)
    infs = Informers(kube, watch_timeout=30)
    try:
        t0 = time.time()
        got = infs.prime([(CONFIGMAPS, False), (SERVICES, False), (SECRETS, False)])
        assert all(i.started for i in got)
        for i in got:
            assert i.wait_synced(10) and i.lists == 1
        lists = [e for e in requests(srv, t0) if e["method"] == "GET" and "watch=" not in e["query"]]
        assert len(lists) == 3 and len({e["peer"] for e in lists}) == 3, lists
    finally:
        infs.close()
