"""InferenceService view model, traffic arithmetic, percent validation and patch builders (pure), one topic
per module: `isvc` (the InferenceService and its parsing: deployment modes, revisions, conditions), `changes`
(input checks and the merge patches of canary/promote/rollback/scale), `traffic` (the expected split,
convergence, status and rollout lines, bars, and `detail_lines`: the one renderer of an InferenceService for
the TUI and the CLI), `infer` (inference request bodies and paths per protocol).

Nothing here does I/O: the backend hands in dicts from the API server (and the Knative Revisions
it found), the actions build their merge patches with the builders in `changes`.
"""

from mlopstui.models.objects import with_resource_version  # noqa: F401 - the one way a write carries its resourceVersion
from mlopstui.models.serving.changes import (  # noqa: F401
    canary_model_patch,
    canary_patch,
    clamp_percent,
    min_replicas_patch,
    parse_percent,
    parse_replicas,
    promote_patch,
    promote_warnings,
    require_canary_support,
    rollback_patch,
    rollout_warning,
    stepped,
    validate_storage_uri,
)
from mlopstui.models.serving.infer import (  # noqa: F401
    infer_path,
    request_body,
    test_body,
)
from mlopstui.models.serving.isvc import (  # noqa: F401
    DEPLOYMENT_MODE_ANNOTATION,
    FRAMEWORK_KEYS,
    ISVC_CONFIG,
    KNOWN_MODES,
    MODE_SOURCE_WORDS,
    MODELMESH_MODES,
    RAW_MODES,
    REVISION_URI_KEYS,
    ROLLOUT_CONDITIONS,
    SERVERLESS_MODES,
    SHIPPED_DEFAULT_MODE,
    UNSUPPORTED,
    UNSUPPORTED_RAW,
    Condition,
    InferenceService,
    TrafficTarget,
    condition_words,
    default_mode_from_config,
    isvc_mode,
    mode_class,
    parse_isvc,
    predictor_model,
    resolve_mode,
    revision_not_ready_reason,
    revision_storage_uri,
    short_revision,
    traffic_converged,
)
from mlopstui.models.serving.traffic import (  # noqa: F401
    bar,
    describe_changes,
    detail_lines,
    expected_split,
    ready_word,
    rollout_lines,
    split_bar,
    status_lines,
)
from mlopstui.units import parse_time  # noqa: F401 - the one timestamp parser (also models.X.parse_time)
