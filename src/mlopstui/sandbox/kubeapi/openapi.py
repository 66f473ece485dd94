"""Just enough OpenAPI v3 for kubectl: it looks up whether PATCH supports `fieldValidation`
(server-side validation) before `kubectl apply`/`create`; if so it skips client-side schemas."""

from __future__ import annotations

from .registry import Registry


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def v3_root(reg: Registry) -> dict:
    gvs = sorted({(rt.group, rt.version) for rt in reg.all()})
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"} for g, v in gvs}}


def v3_group_version(reg: Registry, gv_path: str) -> dict | None:
    parts = gv_path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    types = [rt for rt in reg.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    paths = {}
    prefix = f"/{_gv_path(group, version)}"
    for rt in types:
        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
        gvk = {"group": group, "version": version, "kind": rt.kind}
        op = {"x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {"200": {}}}
        paths[f"{base}/{{name}}"] = {"patch": {**op, "operationId": f"patch{rt.kind}"},
                                     "put": {**op, "operationId": f"replace{rt.kind}"}}
        paths[base] = {"post": {**op, "operationId": f"create{rt.kind}"}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (mlopstui sandbox)", "version": "v1.37.0"},
            "paths": paths, "components": {"schemas": {}}}
