"""The scale sandbox's seed (`sandbox up --scale N`, issue 20) at a tiny scale, over HTTP: stored once, and
what a client lists is what was seeded; the emulator's per-namespace list index follows creates and
deletes (it is dropped when a key comes or goes)."""

from __future__ import annotations

import pytest

from mlopstui.backends.kube import CONFIGMAPS, INFERENCESERVICES, NAMESPACES, PODS, KubeClient
from mlopstui.sandbox.kubeapi import KubeApiServer
from mlopstui.sandbox.scale import objects, seed_once


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = KubeApiServer(str(tmp_path_factory.mktemp("kubeapi-scale")), port=0, run_controllers=False).start()
    yield s
    s.stop()


def test_seed_once_stores_the_scale_cluster_once(srv):
    docs = objects(0.02)
    assert seed_once(srv, 0.02) == len(docs)
    assert seed_once(srv, 0.02) == 0  # a restart of the emulator keeps them: not stored twice
    kube = KubeClient.from_settings(srv.kubeconfig_path, None, "default")
    try:
        pods = kube.list(PODS, all_namespaces=True)
        assert len(pods) == sum(1 for d in docs if d["kind"] == "Pod")
        assert len(kube.list(INFERENCESERVICES, all_namespaces=True)) == sum(
            1 for d in docs if d["kind"] == "InferenceService")
        ns = pods[0]["metadata"]["namespace"]
        assert {p["metadata"]["name"] for p in kube.list(PODS, ns)} == {
            d["metadata"]["name"] for d in docs if d["kind"] == "Pod" and d["metadata"]["namespace"] == ns}
    finally:
        kube.close()


def test_namespace_lists_follow_creates_and_deletes(srv):
    kube = KubeClient.from_settings(srv.kubeconfig_path, None, "default")
    try:
        for ns in ("idx-a", "idx-b"):
            kube.create(NAMESPACES, {"metadata": {"name": ns}})
        kube.create(CONFIGMAPS, {"metadata": {"name": "one"}}, "idx-a")
        assert [c["metadata"]["name"] for c in kube.list(CONFIGMAPS, "idx-a")] == ["one"]  # the index is built
        kube.create(CONFIGMAPS, {"metadata": {"name": "two"}}, "idx-a")
        kube.create(CONFIGMAPS, {"metadata": {"name": "three"}}, "idx-b")
        assert [c["metadata"]["name"] for c in kube.list(CONFIGMAPS, "idx-a")] == ["one", "two"]
        kube.delete(CONFIGMAPS, "one", "idx-a")
        assert [c["metadata"]["name"] for c in kube.list(CONFIGMAPS, "idx-a")] == ["two"]
        assert [c["metadata"]["name"] for c in kube.list(CONFIGMAPS, "idx-b")] == ["three"]
    finally:
        kube.close()


def test_the_controllers_take_the_seeded_revisions_as_their_own(tmp_path):
    """The seed's Revisions are owned by their InferenceService (the loader fills in an ownerReference's uid
    from the object named) and carry their predictor's hash, so the emulator's InferenceService controller
    finds them and creates none: no reconcile keeps failing (before: each one's create of revision 1 was
    refused, 409, and retried about once a minute)."""
    srv = KubeApiServer(str(tmp_path / "kubeapi"), port=0, run_controllers=False)
    try:
        _owned_revisions_settle(srv)
    finally:
        srv.stop()


def _owned_revisions_settle(srv) -> None:
    from mlopstui.sandbox.kubeapi.controllers.manager import ControllerManager

    srv.load_fixture(objects(0.02))
    isvc_rt = srv.registry.get("serving.kserve.io", "v1beta1", "inferenceservices")
    rev_rt = srv.registry.get("serving.knative.dev", "v1", "revisions")
    revisions_before = sorted(srv.store.keys(rev_rt))
    cm = ControllerManager(srv.store, srv.registry)
    cm.listen()
    cm.reconcile_all()
    cm.run_until_idle(timers_within=2.0)
    cm.run_until_idle()
    assert cm.debug()["retrying"] == 0
    assert sorted(srv.store.keys(rev_rt)) == revisions_before  # no revision of their own
    for ns, name in srv.store.keys(isvc_rt):
        uid = srv.store.get(isvc_rt, ns, name)["metadata"]["uid"]
        owned = [k for k in revisions_before if k[0] == ns and k[1].startswith(f"{name}-predictor-")]
        assert owned and all(srv.store.get(rev_rt, *k)["metadata"]["ownerReferences"][0]["uid"] == uid
                             for k in owned)


def test_an_owner_reference_to_an_object_not_loaded_is_refused(tmp_path):
    srv = KubeApiServer(str(tmp_path / "kubeapi"), port=0, run_controllers=False)
    try:
        with pytest.raises(Exception, match="no such object loaded before it"):
            srv.load_fixture([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "orphan", "namespace": "default",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nowhere"}]}}])
    finally:
        srv.stop()
