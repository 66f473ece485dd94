"""The local sandbox: a stand-in cluster and the real services of the platform.

    mlopstui sandbox up [--dir DIR]      # start (idempotent); first time also seeds
    eval "$(mlopstui sandbox env)"       # KUBECONFIG, MLFLOW_*, AWS_*, FEAST_REPO_PATH, MLOPSTUI_CONFIG
    mlopstui                             # or: mlopstui --sandbox
    mlopstui sandbox status [--json]
    mlopstui sandbox down                # state stays in DIR

Python: ``from mlopstui.sandbox.manager import ensure_up, SandboxInfo`` (``up``, ``down``,
``status``, ``env_of`` too). Tests: the session fixture ``sandbox`` in tests/conftest.py.

Parts (each a child process in its own process group; see manager.py):
- ``kubeapi``: the Kubernetes API emulator (package ``kubeapi``), TLS, kubeconfig in DIR/kube;
- ``s3``: moto in server mode with an on-disk mirror (s3.py), buckets mlflow-artifacts, models;
- ``mlflow``: ``mlflow server --workers 1`` on SQLite, artifacts straight to S3;
- ``model-v1`` / ``model-v2``: KServe model servers with real scikit-learn fraud models;
- ``ingress``: the Istio ingress gateway stand-in routing by Host and isvc traffic (ingress.py).
Feast is a generated repository (feast_repo.py) with Redis (db 7) or SQLite as online store.
Seeding (seed.py, manifests/platform.yaml) goes through the same wire APIs as a user's tools.

Nothing here is imported by the product code; the product reaches the sandbox only
through the kubeconfig and URLs it writes, as it would reach a real cluster.
"""
