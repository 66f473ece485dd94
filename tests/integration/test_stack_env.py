"""The Stack area's integration environment (tests/support/stack_env.py) is seeded."""

from support.stack_env import stack_env  # noqa: F401 - fixture


def test_env_is_seeded(stack_env):
    from mlopstui.backends.kube import DEPLOYMENTS, INFERENCESERVICES

    kube = stack_env.kube()
    names = {d["metadata"]["name"] for d in kube.list(DEPLOYMENTS, all_namespaces=True)}
    assert {"minio", "mlflow-server", "kserve-controller-manager", "activator", "istiod"} <= names
    assert {i["metadata"]["name"] for i in kube.list(INFERENCESERVICES, "mlops")} >= {"fraud-detection", "churn-model"}
