"""Controllers playing the cluster's part, one module per resource kind (as k9s has one file per kind):
`workloads` (Deployments, ReplicaSets, StatefulSets, DaemonSets → pods), `pods`, `jobs` (real `feast
materialize`, CronJob status), `inferenceservice` (KServe/Knative revisions and canary traffic), `services`
(LoadBalancer), `gc` (owner garbage collection), `argo` (Workflows, CronWorkflows); `base` what they share;
`manager` the one registry (CONTROLLERS) and the loop that runs them.
"""

from .manager import CONTROLLERS, ControllerManager  # noqa: F401
