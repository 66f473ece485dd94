"""Pod logs, pure: a pod's containers for the picker, the default one as kubectl chooses it, and a stream's
chunks cut into bounded lines.

kubectl logs without -c takes the container named by the annotation `kubectl.kubernetes.io/default-container`,
else the pod's first container (and says "Defaulted container X out of: a, b, c (init)"); init containers are
listed after the others. `--previous` reads the container's last terminated instance: it exists when the
container's status has `lastState.terminated` (a restart), else the kubelet answers
`previous terminated container "X" in pod "Y" not found`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
LINE_MAX = 10_000  # characters of one line kept (a runaway line is cut, marked with …)


@dataclass(frozen=True)
class Container:
    name: str
    init: bool
    state: str  # running | waiting: Reason | terminated: Reason | unknown
    restarts: int
    has_previous: bool

    def label(self) -> str:
        kind = "init container" if self.init else "container"
        prev = ", previous log" if self.has_previous else ""
        return f"{self.name}  ({kind}; {self.state}; restarts {self.restarts}{prev})"


def _state(cs: dict[str, Any]) -> str:
    st = cs.get("state") or {}
    for key in ("running", "waiting", "terminated"):
        if key in st:
            reason = (st.get(key) or {}).get("reason")
            return f"{key}: {reason}" if reason else key
    return "unknown"


def containers(pod: dict[str, Any]) -> list[Container]:
    """The pod's containers, then its init containers, with their state from status."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    out = []
    for init, specs, statuses in ((False, spec.get("containers"), status.get("containerStatuses")),
                                  (True, spec.get("initContainers"), status.get("initContainerStatuses"))):
        by_name = {cs.get("name"): cs for cs in statuses or []}
        for c in specs or []:
            name = str(c.get("name") or "")
            cs = by_name.get(name) or {}
            out.append(Container(name=name, init=init, state=_state(cs) if cs else "unknown",
                                 restarts=int(cs.get("restartCount") or 0),
                                 has_previous=bool((cs.get("lastState") or {}).get("terminated"))))
    return out


def default_container(pod: dict[str, Any]) -> str | None:
    """kubectl's choice without -c: the annotated default container (when the pod has it), else the first."""
    names = [c.name for c in containers(pod)]
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if wanted and wanted in names:
        return wanted
    regular = [c.name for c in containers(pod) if not c.init]
    return (regular or names or [None])[0]


def running(pod: dict[str, Any]) -> bool:
    """Whether a follow stream can bring anything new (the pod has not finished)."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class LineBuffer:
    """Chunks of a stream -> whole lines; the unfinished tail waits for the next chunk."""

    def __init__(self) -> None:
        self.rest = ""

    def feed(self, chunk: str) -> list[str]:
        text = self.rest + chunk
        parts = text.split("\n")
        self.rest = parts.pop()
        if len(self.rest) > LINE_MAX:  # no newline for too long: show what came, cut
            parts.append(self.rest[:LINE_MAX] + "…")
            self.rest = ""
        return [cut(p) for p in parts]

    def flush(self) -> list[str]:
        rest, self.rest = self.rest, ""
        return [cut(rest)] if rest else []


def cut(line: str) -> str:
    line = line.rstrip("\r")
    return line if len(line) <= LINE_MAX else line[:LINE_MAX] + "…"
