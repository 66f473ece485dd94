"""Automatic fixes for doctor findings: pure logic, no I/O.

    spec = fix_for(finding, snapshot)          # a FixSpec, or None when no automatic fix is safe
    reason = why_not(finding, snapshot)        # why not ("" when there is a fix)

A FixSpec names one object (kind, namespace, name), the exact patch and its content type, the risk,
notes for the person confirming it, and the resourceVersion it was computed from (carried inside the
patch as metadata.resourceVersion, so a concurrent edit makes the API server answer 409 instead of
being overwritten). Built-in workload kinds get a strategic merge patch (containers and env merge by
name: only what changes is sent); InferenceServices (a CRD) get a JSON merge patch. A failed Job of
a CronJob is re-run by creating a Job exactly as `kubectl create job --from=cronjob/...` does.

Secret values never enter a FixSpec: credentials are added as valueFrom.secretKeyRef (Secret name and
key only).
"""

from __future__ import annotations

from mlopstui.doctor.fixes.base import (  # noqa: F401 - the public API
    CREATE,
    DEFAULT_REDIS_LIMIT,
    FIXERS,
    MAXMEMORY_SHARE,
    MERGE,
    NO_FIX_REASONS,
    POD_TEMPLATE_KINDS,
    RESTARTED_AT,
    STRATEGIC,
    FixSpec,
    NoFix,
    _No,
    _Opts,
    double_quantity,
    explain,
    find_object,
    fix_for,
    fixer,
    format_bytes,
    has_fixer,
    managed_notes,
    parse_ref,
    pod_bearer,
    why_not,
    with_object,
    with_resource_version,
)
from mlopstui.doctor.fixes.clients import (  # noqa: F401 - registers its fixers
    CREDENTIAL_KEY_PAIRS,
    credential_secret,
    fix_s3_credentials,
    fix_s3_endpoint,
)
from mlopstui.doctor.fixes.mlflow import (  # noqa: F401 - registers its fixers
    fix_allowed_hosts,
    fix_host_rejected,
)
from mlopstui.doctor.fixes.redis import (  # noqa: F401 - registers its fixers
    fix_redis_memory,
    redis_maxmemory_bytes,
)
from mlopstui.doctor.fixes.security import (  # noqa: F401 - registers its fixers
    fix_credentials_inline,
)
from mlopstui.doctor.fixes.serving import (  # noqa: F401 - registers its fixers
    fix_canary_raw,
    fix_ineffective_minscale,
    fix_min_replicas_zero,
)
from mlopstui.doctor.fixes.workloads import (  # noqa: F401 - registers its fixers
    fix_job_failed,
    fix_oomkilled,
    fix_restart,
)
