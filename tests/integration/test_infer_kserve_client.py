"""Our test requests (`infer`, the Serving screen's `t`) checked against KServe's own inference client
and types, on the sandbox's real KServe model servers (kserve.ModelServer, v1 and v2 protocols).

We keep our httpx path (mlopstui.backends.kserve.infer) and do not use `kserve.InferenceRESTClient`
or `kserve.InferRequest`/`InferResponse` at run time (README "Test requests: our client, not
KServe's"): here KServe's own client and types are the oracle. The last tests pin the two upstream
behaviours the choice rests on (kserve 0.21.0, kserve/inference_client.py and
kserve/protocol/infer_type.py): if KServe changes them, these fail and the choice is worth revisiting.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mlopstui.backends.kserve import InferTarget, infer
from mlopstui.models.serving import request_body

pytestmark = pytest.mark.integration

ROWS = [[250.0, 3, 0.7, 9, 40.0, 120.5], [12.0, 1, 0.1, 0, 3.0, 2.5]]
MODEL = "fraud-detection"
HOST = "fraud-detection.mlops.example.com"  # the seeded InferenceService's status.url host


def _kserve_infer(base: str, protocol: str, headers: dict[str, str] | None = None):
    """One request with KServe's own REST client; (answer, response headers)."""
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    if protocol == "v1":
        data = {"instances": ROWS}
    else:
        data = InferRequest(MODEL, [InferInput("input-0", [len(ROWS), len(ROWS[0])], "FP64",
                                               data=[float(x) for r in ROWS for x in r])])

    async def go():
        seen: dict[str, str] = {}
        async with InferenceRESTClient(RESTConfig(protocol=protocol, timeout=10)) as c:
            out = await c.infer(base, data, model_name=MODEL, headers=headers, response_headers=seen)
        return out, seen

    return asyncio.run(go())


def test_our_v2_body_is_what_kserves_types_build():
    from kserve import InferInput, InferRequest

    ours = request_body(ROWS, "v2")
    theirs, binary_len = InferRequest(MODEL, [InferInput("input-0", [2, 6], "FP64",
                                                         data=[x for r in ROWS for x in r])]).to_rest()
    assert binary_len is None  # plain JSON, as ours
    assert ours["inputs"] == theirs["inputs"]  # theirs adds a random id and the model name: optional in v2


@pytest.mark.parametrize("server", ["model-v1", "model-v2"])
@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_answers_as_kserves_own_client_reads_them(sandbox, server, protocol):
    from kserve import InferResponse

    base = sandbox.parts[server]
    ours = infer(InferTarget(base, None, "service URL"), MODEL, protocol, request_body(ROWS, protocol), timeout=10)
    theirs, headers = _kserve_infer(base, protocol)
    assert ours.ok and ours.status == 200, ours.error
    assert ours.model_version == server.removeprefix("model-") == headers["x-model-revision"]
    if protocol == "v1":
        assert ours.predictions == theirs["predictions"]
    else:  # the same tensor as KServe's client, and as KServe's own parser reads our body
        assert ours.predictions == {o.name: o.data for o in theirs.outputs}
        parsed = InferResponse.from_rest(ours.body)
        assert ours.predictions == {o.name: o.data for o in parsed.outputs}
        assert parsed.model_version == ours.model_version


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_through_the_ingress_with_the_host_header_as_kserves_client(sandbox, protocol):
    """The ingress routes by Host (Istio/Knative); the canary split sends either revision: compare the
    answers of the same model version."""
    base = sandbox.parts["ingress"]
    target = InferTarget(base, HOST, "ingress")
    theirs_by_version: dict[str, object] = {}
    ours_by_version: dict[str, object] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(ours_by_version) & set(theirs_by_version):
        r = infer(target, MODEL, protocol, request_body(ROWS, protocol), timeout=10)
        assert r.ok and r.host == HOST, r.error
        ours_by_version[r.model_version] = r.predictions
        out, headers = _kserve_infer(base, protocol, {"Host": HOST})
        theirs_by_version[headers["x-model-revision"]] = (
            out["predictions"] if protocol == "v1" else {o.name: o.data for o in out.outputs})
    common = set(ours_by_version) & set(theirs_by_version)
    assert common, (ours_by_version, theirs_by_version)
    for v in common:
        assert ours_by_version[v] == theirs_by_version[v]


def test_kserves_v2_client_drops_the_model_version(sandbox):
    """Why not KServe's client (1): InferResponse.from_bytes, which InferenceRESTClient.infer uses for v2,
    builds the response without model_version; the canary split (`infer --burst`) counts by it."""
    base = sandbox.parts["model-v2"]
    theirs, _ = _kserve_infer(base, "v2")
    ours = infer(InferTarget(base, None, "service URL"), MODEL, "v2", request_body(ROWS, "v2"), timeout=10)
    assert ours.body["model_version"] == "v2" == ours.model_version
    assert theirs.model_version is None


def test_kserves_client_loses_the_answer_of_a_lying_server():
    """Why not KServe's client (2): an HTML page with 200 raises orjson's decode error (v1) or
    kserve.errors.InvalidInput "Unrecognized request format" (v2), with no status, content type or
    body left to say what answered; ours says it (tests/faults: `infer` against an HTML ingress)."""
    import orjson
    from kserve.errors import InvalidInput

    from support.fault_servers import FaultServer

    srv = FaultServer("html")
    try:
        for protocol, exc in (("v1", orjson.JSONDecodeError), ("v2", InvalidInput)):
            with pytest.raises(exc) as info:
                _kserve_infer(srv.url, protocol)
            assert not hasattr(info.value, "response")
            ours = infer(InferTarget(srv.url, None, "service URL"), MODEL, protocol, request_body(ROWS, protocol),
                         timeout=5)
            assert not ours.ok and ours.status == 200 and "HTML page" in ours.error and "text/html" in ours.error
    finally:
        srv.stop()
