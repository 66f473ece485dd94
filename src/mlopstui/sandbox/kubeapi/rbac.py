"""Users, bearer tokens and the authorization policy of the sandbox."""

from __future__ import annotations

import json
import os
import secrets

from . import errors
from .registry import ResourceType

USERS = ("admin", "viewer")
READ_VERBS = {"get", "list", "watch"}
# the viewer reads objects, but may not reach into the cluster's network or containers
CONNECT_SUBRESOURCES = {"proxy", "portforward", "exec", "attach"}


class Authenticator:
    """Random bearer tokens per state dir, persisted in `DIR/tokens.json` (mode 0600)."""

    def __init__(self, state_dir: str) -> None:
        path = os.path.join(state_dir, "tokens.json")
        tokens: dict[str, str] = {}
        if os.path.exists(path):
            with open(path) as f:
                tokens = json.load(f)
        changed = False
        for user in USERS:
            if user not in tokens:
                tokens[user] = secrets.token_urlsafe(32)
                changed = True
        if changed:
            fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(tokens, f)
            os.replace(path + ".tmp", path)
        self.tokens = tokens
        self._by_token = {t: u for u, t in tokens.items()}

    def user_for(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self._by_token.get(authorization[len("Bearer "):].strip())


def allowed(user: str, verb: str, group: str, plural: str, sub: str = "") -> bool:
    """The sandbox's policy: admin may do anything; viewer may read everything but Secrets (and may not
    connect: proxy / port-forward)."""
    if user == "admin":
        return True
    return (user == "viewer" and verb in READ_VERBS and plural != "*" and (group, plural) != ("", "secrets")
            and sub not in CONNECT_SUBRESOURCES)


def authorize(user: str, verb: str, rt: ResourceType, namespace: str, name: str, sub: str = "") -> None:
    """Raise a Forbidden ApiError if `user` may not `verb` the resource."""
    if (rt.group, rt.plural) == ("authorization.k8s.io", "selfsubjectaccessreviews") and verb == "create":
        return  # every authenticated user may ask what it may do
    if not allowed(user, verb, rt.group, rt.plural, sub):
        raise errors.forbidden(user, verb, rt, namespace, name, sub)


def access_review(user: str, review: dict) -> dict:
    """A SelfSubjectAccessReview answered from the policy above (resource or non-resource attributes)."""
    spec = review.get("spec") or {}
    ra = spec.get("resourceAttributes")
    if isinstance(ra, dict):
        verb, group, plural = ra.get("verb") or "", ra.get("group") or "", ra.get("resource") or ""
        ok = allowed(user, verb, group, plural, ra.get("subresource") or "")
    else:
        nra = spec.get("nonResourceAttributes") or {}
        verb = nra.get("verb") or ""
        ok = user == "admin" or verb == "get"
    # as the RBAC authorizer: a reason when allowed, none when denied (kubectl then prints a bare "no")
    status = {"allowed": ok, "reason": f'RBAC: allowed by the sandbox policy for User "{user}"'} if ok else \
        {"allowed": False}
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
