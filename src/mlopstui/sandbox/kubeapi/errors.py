"""kube-apiserver style `Status` errors."""

from __future__ import annotations

from .registry import ResourceType


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt: ResourceType | None, name: str = "") -> dict:
    d: dict = {}
    if name:
        d["name"] = name
    if rt is not None:
        if rt.group:
            d["group"] = rt.group
        d["kind"] = rt.plural
    return d


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.group_resource} "{name}" not found', _details(rt, name))


def namespace_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.group_resource} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    _details(rt, name))


def invalid(rt: ResourceType, name: str, field: str, msg: str, cause_type: str = "FieldValueInvalid") -> ApiError:
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    d = {"name": name, **({"group": rt.group} if rt.group else {}), "kind": rt.kind,
         "causes": [{"reason": cause_type, "message": msg, "field": field}]}
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {field}: {msg}', d)


def forbidden(user: str, verb: str, rt: ResourceType, namespace: str, name: str, sub: str = "") -> ApiError:
    resource = f"{rt.plural}/{sub}" if sub else rt.plural
    what = f'{rt.group_resource} "{name}"' if name else rt.group_resource
    where = f'in the namespace "{namespace}"' if (rt.namespaced and namespace) else "at the cluster scope"
    msg = (f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
           f'in API group "{rt.group}" {where}')
    return ApiError(403, "Forbidden", msg, _details(rt, name))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(msg: str) -> ApiError:
    return ApiError(400, "BadRequest", msg)


def gone(msg: str) -> ApiError:
    return ApiError(410, "Expired", msg)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def unsupported_media(ct: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                    f'media types include: application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml (got "{ct}")')
