"""The MLflow model registry: registered models, versions, aliases (a mixin of backends.mlflow.MlflowBackend)."""

from __future__ import annotations

from typing import Any

from mlopstui.backends.mlflow_common import API
from mlopstui.errors import MlopsError
from mlopstui.models.experiments import ModelVersion, RegisteredModel


class RegistryMixin:
    """Needs the backend's _call, display and get_run."""

    # -- model registry ---------------------------------------------------------------------------
    def search_registered_models(self, filter: str = "", max_total: int = 5000) -> list[RegisteredModel]:
        params: dict[str, Any] = {"max_results": 1000, **({"filter": filter} if filter else {})}
        rows = self._paged("GET", "registered-models/search", "list registered models", "registered_models",
                           params, max_total=max_total)
        return sorted((RegisteredModel.from_api(m) for m in rows), key=lambda m: m.name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._call("GET", f"{API}/registered-models/get", f"registered model {name}", params={"name": name})
        return RegisteredModel.from_api(data.get("registered_model", {}))

    def search_model_versions(self, name: str, max_total: int = 5000) -> list[ModelVersion]:
        esc = name.replace("'", "\\'")
        rows = self._paged("GET", "model-versions/search", f"versions of {name}", "model_versions",
                           {"filter": f"name='{esc}'", "max_results": 1000}, max_total=max_total)
        out = [ModelVersion.from_api(v) for v in rows]
        # search results may lack aliases on some stores: fill them from the model
        if out and not any(v.aliases for v in out):
            try:
                model = self.get_registered_model(name)
                for alias, ver in model.aliases.items():
                    for v in out:
                        if v.version == ver:
                            v.aliases.append(alias)
            except MlopsError:
                pass
        out.sort(key=lambda v: int(v.version) if v.version.isdigit() else 0, reverse=True)
        return out

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        data = self._call("GET", f"{API}/model-versions/get", f"{name} v{version}",
                          params={"name": name, "version": version})
        return ModelVersion.from_api(data.get("model_version", {}))

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._call("GET", f"{API}/registered-models/alias", f"{name}@{alias}",
                          params={"name": name, "alias": alias})
        return ModelVersion.from_api(data.get("model_version", {}))

    def resolve_storage_uri(self, version: ModelVersion) -> str:
        """Where a model server can pull this version from: an s3:// (or other store) URI.

        models:/ and runs:/ sources are resolved through the run's artifact root; mlflow-artifacts:/ URIs
        are the proxy's and cannot be pulled by KServe directly (returned as they are, with the caller warned).
        """
        src = version.source
        if src.startswith("models:/"):
            # MLflow 3 logged models: the version's storage is under the run (or the model's artifact root)
            src = ""
        if src.startswith("runs:/") or not src:
            if version.run_id:
                rel = src.split("/", 2)[2] if src.startswith("runs:/") and src.count("/") >= 2 else ""
                root = self.get_run(version.run_id).artifact_uri
                return root.rstrip("/") + ("/" + rel if rel else "")
            return version.source
        return src
