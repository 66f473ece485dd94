"""The Stack area's plain data, one topic per module (pure: no I/O; backends turn cluster objects and probe
answers into these, the doctor reads them):

- `catalog`: the components, how their workloads are recognised, which database a component uses;
- `workloads`: pods and workloads as kubectl shows them (status, readiness, images, versions);
- `status`: probe results, a component's row and its health roll-up;
- `report`: ClusterState + probe answers -> StackReport (rows and the doctor's findings), `build_report`.
  Not imported here: it imports the doctor, which imports this package.
"""

from mlopstui.models.stack.catalog import (  # noqa: F401
    CATALOG,
    CATALOG_BY_ID,
    DATABASE_ROLES,
    SELECTED_BY,
    ComponentSpec,
    Matcher,
    apply_override,
    asdict_shallow,
    assign_workloads,
    catalog_with_overrides,
    database_references,
    excluded,
    matches,
    refine_database_roles,
    selects,
)
from mlopstui.models.stack.status import (  # noqa: F401
    HEALTH_RANK,
    HEALTH_SYMBOL,
    ComponentStatus,
    Health,
    ProbeResult,
    ProbeState,
    component_health,
    pending_probe,
    since,
    skipped_probe,
    worst_health,
)
from mlopstui.models.stack.workloads import (  # noqa: F401
    VERSION_LABEL,
    PodsByNamespace,
    PodStatus,
    WorkloadStatus,
    age_of,
    containers_of,
    image_tag,
    images_of,
    labels_match,
    main_images,
    pod_status,
    pod_template_spec,
    pods_of,
    selector_of,
    workload_status,
    workload_version,
)
from mlopstui.units import parse_time  # noqa: F401 - the one timestamp parser (also models.stack.parse_time)
