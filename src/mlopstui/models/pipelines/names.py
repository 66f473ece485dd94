"""Argo's and KFP's labels, annotations and tags; node ids and pod names (fnv32a, workflow/util/pod_name.go);
times and durations as `argo` prints them. Pure: no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# -- labels, annotations, tags ---------------------------------------------------------------------
L_WORKFLOW = "workflows.argoproj.io/workflow"  # on pods: the workflow's name
L_PHASE = "workflows.argoproj.io/phase"
L_COMPLETED = "workflows.argoproj.io/completed"
L_ARCHIVING = "workflows.argoproj.io/workflow-archiving-status"
L_CRON = "workflows.argoproj.io/cron-workflow"
L_TEMPLATE = "workflows.argoproj.io/workflow-template"
L_CLUSTER_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
L_RESUBMITTED_FROM = "workflows.argoproj.io/resubmitted-from-workflow"
L_CREATOR_PREFIX = "workflows.argoproj.io/creator"
A_NODE_NAME = "workflows.argoproj.io/node-name"
A_NODE_ID = "workflows.argoproj.io/node-id"
A_POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"
KFP_RUN_ID = "pipeline/runid"
KFP_RUN_NAME = "pipelines.kubeflow.org/run_name"
KFP_V2_COMPONENT = "pipelines.kubeflow.org/v2_component"
KFP_SCHEDULED = "scheduledworkflows.kubeflow.org/scheduledWorkflowName"

TAG_WORKFLOW_UID = "argo.workflow.uid"
TAG_WORKFLOW_NAME = "argo.workflow.name"
TAG_WORKFLOW_NAMESPACE = "argo.workflow.namespace"

EXECUTABLE = ("Pod", "Container", "HTTP", "Plugin", "Suspend")
EXECUTION_RENDER = ("Pod", "Skipped", "Suspend", "HTTP", "Plugin")
BOUNDARY = ("DAG", "Steps")
NON_BOUNDARY_PARENT = ("StepGroup", "Retry")
GROUP = ("DAG", "TaskGroup", "StepGroup", "Steps")
DONE = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
WF_DONE = ("Succeeded", "Failed", "Error")
CONTAINERS = ("main", "init", "wait")

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
PARAM_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def clean_text(text: object, keep_newlines: bool = True) -> str:
    """A server's string made safe for the terminal (mlopstui.text: whole escape sequences, an OSC's
    payload too, and control characters dropped)."""
    from mlopstui.text import clean, clean_line

    return clean(text) if keep_newlines else clean_line(text)


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(workflow: str, node_name: str) -> str:
    """Workflow.NodeID: the root node's id is the workflow name, others `<wf>-<fnv32a(name)>`."""
    return workflow if node_name == workflow else f"{workflow}-{fnv32a(node_name)}"


def pod_name(workflow: str, node_name: str, template: str, nid: str, version: str = "v2") -> str:
    """util.GeneratePodName."""
    if version == "v1":
        return nid
    if workflow == node_name:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix[:242]}-{fnv32a(node_name)}"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_duration(seconds: float | None) -> str:
    """humanize.RelativeDurationShort: 0s, 19s, 3m, 2h, 4d."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def recover_index(display_name: str) -> int:
    """util.RecoverIndexFromNodeName: `sleep(9:nine)` -> 9, else -1."""
    a, b = display_name.find("("), display_name.find(":")
    if a < 0 or b < 0:
        return -1
    try:
        return int(display_name[a + 1:b])
    except ValueError:
        return -1
