"""Inference requests: the body and path for a protocol (KServe v1, Open Inference Protocol v2) from a
sample. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

from mlopstui.errors import Kind, MlopsError


# -- inference requests (pure: the body and path for a protocol) -------------------------------------------
def request_body(sample: Any, protocol: str) -> dict[str, Any]:
    """A request body for the protocol from a sample.

    A sample may be: {"v1": {...}, "v2": {...}}; a v1 body {"instances": [...]}; a v2 body
    {"inputs": [...]}; or a bare list of rows. v1 rows are converted to a v2 FP64 tensor and back.
    """
    if isinstance(sample, str):
        try:
            sample = json.loads(sample)
        except ValueError as exc:
            raise MlopsError(Kind.INVALID, f"input is not JSON: {exc}",
                             hint='e.g. [[120.0, 3, 0.4, 2, 80.0, 12.5]] or {"instances": [...]}') from None
    if isinstance(sample, dict) and protocol in sample and isinstance(sample[protocol], dict):
        return sample[protocol]
    if isinstance(sample, dict) and isinstance(sample.get("v1"), dict) and protocol == "v2":
        sample = sample["v1"]
    if isinstance(sample, dict) and isinstance(sample.get("v2"), dict) and protocol == "v1":
        sample = sample["v2"]
    rows: Any = None
    if isinstance(sample, list):
        rows = sample
    elif isinstance(sample, dict) and "instances" in sample:
        if protocol == "v1":
            return sample
        rows = sample["instances"]
    elif isinstance(sample, dict) and "inputs" in sample:
        if protocol == "v2":
            return sample
        inp = sample["inputs"][0] if sample["inputs"] else {}
        data, shape = inp.get("data") or [], inp.get("shape") or []
        if len(shape) == 2 and shape[1]:
            rows = [data[i:i + shape[1]] for i in range(0, len(data), shape[1])]
        else:
            rows = [data]
    if rows is None:
        raise MlopsError(Kind.INVALID, "the sample is neither rows, a v1 body nor a v2 body",
                         hint='set settings.inference_sample, e.g. {"instances": [[...]]}')
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    if protocol == "v1":
        return {"instances": rows}
    flat = [x for r in rows for x in r]
    return {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0]) if rows else 0],
                        "datatype": "FP64", "data": flat}]}


def infer_path(model: str, protocol: str) -> str:
    if protocol == "v2":
        return f"/v2/models/{model}/infer"
    return f"/v1/models/{model}:predict"


def test_body(sample: Any, protocol: str) -> dict[str, Any]:
    """The body of a test request from the typed input or settings.inference_sample: MlopsError (CONFIG: no
    input; INVALID: not JSON / not rows or a body) before anything is sent."""
    if sample is None:
        raise MlopsError(Kind.CONFIG, "no request input: type one or set settings.inference_sample",
                         hint='e.g. [[120.0, 3, 0.4, 2, 80.0, 12.5]] or {"instances": [...]}')
    return request_body(sample, protocol)


test_body.__test__ = False  # not a pytest test
