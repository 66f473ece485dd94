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
