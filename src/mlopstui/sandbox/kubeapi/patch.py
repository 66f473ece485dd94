"""Patch flavours: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge, server-side apply."""

from __future__ import annotations

import copy


class PatchError(Exception):
    pass


# ---- RFC 7386 -------------------------------------------------------------------------------------
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ---- RFC 6902 -------------------------------------------------------------------------------------
def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _resolve(doc, tokens: list[str]):
    cur = doc
    for t in tokens:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError(f"path not found: /{'/'.join(tokens)}")
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError) as e:
                raise PatchError(f"invalid index {t!r}") from e
        else:
            raise PatchError(f"cannot traverse into {t!r}")
    return cur


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            i = int(last)
            if i < 0 or i > len(parent):
                raise PatchError(f"index {i} out of range")
            parent.insert(i, value)
    else:
        raise PatchError("add target is not a container")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise PatchError("cannot remove the root")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError) as e:
            raise PatchError(f"invalid index {last!r}") from e
    raise PatchError("remove target is not a container")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        path = _tokens(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _resolve(doc, path)  # must exist
            if not path:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            frm = _tokens(op.get("from", ""))
            value = _remove(doc, frm)
            doc = _add(doc, path, value)
        elif kind == "copy":
            frm = _tokens(op.get("from", ""))
            doc = _add(doc, path, copy.deepcopy(_resolve(doc, frm)))
        elif kind == "test":
            try:
                got = _resolve(doc, path)
            except PatchError:
                got = None
            if got != op.get("value"):
                raise PatchError(f"testing value {op.get('path')} failed: test failed")
        else:
            raise PatchError(f"unexpected op {kind!r}")
    return doc


# ---- strategic merge ------------------------------------------------------------------------------
# list field name -> merge key (a simplified view of the Kubernetes patchMergeKey tags)
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "tolerations": "key",
    "hostAliases": "ip",
}


def _list_key(field: str, items: list) -> str | None:
    if field == "ports":
        if all(isinstance(i, dict) and "containerPort" in i for i in items):
            return "containerPort"
        if all(isinstance(i, dict) and "port" in i for i in items):
            return "port"
        return None
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch, field: str = ""):
    if isinstance(patch, list):
        if isinstance(target, list):
            key = _list_key(field, patch + target)
            if key and all(isinstance(i, dict) for i in patch + target):
                return _merge_keyed_list(target, patch, key)
        return [_strip_directives(copy.deepcopy(i)) for i in patch if not _is_delete(i)]
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(copy.deepcopy({k: v for k, v in patch.items() if k != "$patch"}))
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k.startswith("$deleteFromPrimitiveList/") or k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        else:
            result[k] = strategic_merge(result.get(k), v, k)
    return result


def _is_delete(item) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _strip_directives(obj):
    if isinstance(obj, dict):
        return {k: _strip_directives(v) for k, v in obj.items() if not k.startswith("$")}
    if isinstance(obj, list):
        return [_strip_directives(i) for i in obj]
    return obj


def _merge_keyed_list(target: list, patch: list, key: str) -> list:
    result = copy.deepcopy(target)
    for item in patch:
        k = item.get(key)
        idx = next((i for i, t in enumerate(result) if t.get(key) == k), None)
        if _is_delete(item):
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_strip_directives(copy.deepcopy(item)))
        else:
            result[idx] = strategic_merge(result[idx], item)
    return result


# ---- server-side apply (merge semantics) ----------------------------------------------------------
def apply_patch(existing: dict, applied: dict) -> dict:
    """Merge an applied configuration into the live object, keyed lists merged by name."""
    applied = copy.deepcopy(applied)
    meta = applied.get("metadata") or {}
    for k in ("managedFields", "uid", "creationTimestamp", "generation"):
        meta.pop(k, None)
    return strategic_merge(existing, applied)
