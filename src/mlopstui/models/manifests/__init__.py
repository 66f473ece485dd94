"""The installer's manifests: pure rendering of a stack component's Kubernetes objects from parameters, one
topic per module: `params` (what can be installed, its parameters and their checks, images, refusals),
`facts` (what the stack already has, and `resolve()`), `render` (the objects).

No I/O. The install action (actions/install.py) reads what the cluster already has into `Facts`,
`resolve()` validates the operator's `--set key=value` parameters against them and fills in defaults,
and `render()` returns the objects in dependency order (Secret, Service, workload).

Every object carries the labels the Stack catalog (models/stack/catalog.py) recognises for its component, plus
`app.kubernetes.io/managed-by: mlopstui` and `mlopstui.dev/component: <id>`. Images are maintained
upstream images (never bitnami/ or bitnamilegacy/, never MinIO). Secret values never appear in a
rendered container spec: passwords reach containers through secretKeyRef only.
"""

from mlopstui.models.manifests.facts import (  # noqa: F401
    Facts,
    resolve,
    validate,
)
from mlopstui.models.manifests.params import (  # noqa: F401
    COMPONENT_LABEL,
    FIELD_MANAGER,
    FORBIDDEN_IMAGE_ORGS,
    IMAGES,
    INSTALLABLE,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PGBOUNCER_SERVICES,
    POSTGRES_SERVICES,
    S3_SECRETS,
    S3_SERVICES,
    UPSTREAM,
    Installable,
    Param,
    cpu_millis,
    installable_ids,
    memory_bytes,
    parse_sets,
    refusal,
)
from mlopstui.models.manifests.render import (  # noqa: F401
    Rendered,
    labels_for,
    redis_maxmemory,
    render,
    secret_free,
    selector_for,
    service_hosts,
)
