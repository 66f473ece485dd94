"""Argo Workflows and Kubeflow Pipelines runs as plain data (pure: no I/O), one topic per module:
`names` (labels, annotations, node ids and pod names, durations), `workflow` (Workflow, its nodes, parameters,
artifacts, and the tree `argo get` shows), `templates` (CronWorkflows, WorkflowTemplates), `plans` (what
`argo retry` / `resubmit` / `submit --from` formulate, parameter and name checks).

Facts from upstream (argoproj/argo-workflows f016ad89eb, kubeflow/pipelines 7b70c7b95f; fixtures under
tests/fixtures/upstream/argo/ record them):
- A Workflow's `status.nodes` is a map id -> NodeStatus (type Pod, Steps, StepGroup, DAG, TaskGroup,
  Retry, Skipped, Suspend, ...). Node ids are `<workflow>-<fnv32a(node name)>` (the root's id is the
  workflow name), pod names (v2, the default) `<workflow>-<template>-<fnv32a(node name)>`
  (workflow/util/pod_name.go).
- `argo get` renders the tree from boundaries (DAG/Steps own the nodes whose boundaryID they are) and
  non-boundary parents (StepGroup/Retry own their children), siblings ordered by startedAt, then by the
  `(i:item)` index, then by name; a Retry node with one child and every StepGroup are folded away
  (cmd/argo/commands/common/get.go). Durations print as "19s", "3m", "2h" (util/humanize).
- Progress "N/M" sums the executable nodes (Pod, Container, HTTP, Plugin, Suspend); succeeded/skipped
  nodes count complete (workflow/progress/updater.go).
- `argo retry` (workflow/util/util.go FormulateRetryWorkflow): only Failed/Error workflows; failed
  execution nodes without a succeeded descendant are deleted with everything below them, their
  ancestors up to the root reset to Running; the pods of deleted Pod nodes are deleted; the Workflow is
  then updated (PUT) with the new status. `argo resubmit` (FormulateResubmitWorkflow): a new Workflow
  with the old spec (shutdown cleared), generateName, user labels plus
  `workflows.argoproj.io/resubmitted-from-workflow`, and the old annotations.
- Kubeflow Pipelines v2 runs are Argo Workflows: label `pipeline/runid` (run id), annotation
  `pipelines.kubeflow.org/run_name` (the run's display name), the pipeline name as the drivers'
  `--pipeline_name` argument and as generateName (`<pipeline>-`); pods carry
  `pipelines.kubeflow.org/v2_component: "true"`. Scheduled runs add
  `scheduledworkflows.kubeflow.org/scheduledWorkflowName`
  (backend/src/common/util/consts.go, backend/src/apiserver/template/v2_template.go,
  backend/src/v2/compiler/argocompiler/argo.go).

MLflow runs a workflow created are found by the tag `argo.workflow.uid` (also `argo.workflow.name` and
`argo.workflow.namespace`): a pipeline step sets them from `{{workflow.uid}}` / `{{workflow.name}}`, as
the sandbox's lifecycle pipeline does. KFP replaces `{{workflow.uid}}` with the run id, so for a KFP run
the same tag holds the run id.
"""

from mlopstui.models.pipelines.names import (  # noqa: F401
    A_NODE_ID,
    A_NODE_NAME,
    A_POD_NAME_FORMAT,
    BOUNDARY,
    CONTAINERS,
    DONE,
    EXECUTABLE,
    EXECUTION_RENDER,
    GROUP,
    KFP_RUN_ID,
    KFP_RUN_NAME,
    KFP_SCHEDULED,
    KFP_V2_COMPONENT,
    L_ARCHIVING,
    L_CLUSTER_TEMPLATE,
    L_COMPLETED,
    L_CREATOR_PREFIX,
    L_CRON,
    L_PHASE,
    L_RESUBMITTED_FROM,
    L_TEMPLATE,
    L_WORKFLOW,
    NON_BOUNDARY_PARENT,
    TAG_WORKFLOW_NAME,
    TAG_WORKFLOW_NAMESPACE,
    TAG_WORKFLOW_UID,
    WF_DONE,
    clean_text,
    fnv32a,
    node_id,
    pod_name,
    recover_index,
    rfc3339,
    short_duration,
)
from mlopstui.models.pipelines.plans import (  # noqa: F401
    RetryPlan,
    check_name,
    override_parameters,
    parse_parameters,
    resubmit_manifest,
    retry_plan,
    submit_manifest,
)
from mlopstui.models.pipelines.templates import (  # noqa: F401
    CronWorkflow,
    WorkflowTemplate,
    parse_cron_workflow,
    parse_workflow_template,
)
from mlopstui.models.pipelines.workflow import (  # noqa: F401
    Artifact,
    Kfp,
    Node,
    Param,
    TreeRow,
    Workflow,
    kfp_pipeline_name,
    node_tree,
    parse_node,
    parse_workflow,
)
from mlopstui.units import parse_time  # noqa: F401 - the one timestamp parser (also models.X.parse_time)
