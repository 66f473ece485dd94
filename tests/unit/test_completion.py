"""`mlopstui completion bash|zsh|fish`: the generated code, run by a real bash, completes verbs, flags,
contexts (kubeconfig), namespaces and InferenceServices (the API emulator over HTTPS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlopstui.cli import main

BIN = Path(sys.executable).parent
# what bash does on TAB: COMP_* set, then the function `complete -F` registered
COMPLETE = r'''
source <(mlopstui completion bash)
line="$1"
read -ra COMP_WORDS <<< "$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$line"; COMP_POINT=${#line}
_python_argcomplete mlopstui
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPSTUI_", "MLFLOW_"))}
    e.update({"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})})
    r = subprocess.run(["bash", "-c", COMPLETE, "complete", line], capture_output=True, text=True,
                       timeout=60, env=e)
    assert r.returncode == 0, r.stderr
    return [w.strip() for w in r.stdout.splitlines() if w.strip()]


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nospace -o default -o bashdefault -F"),
                                          ("zsh", "#compdef mlopstui"), ("fish", "complete --command mlopstui")])
def test_completion_prints_shell_code(capsys, shell, marker):
    assert main(["completion", shell]) == 0
    out = capsys.readouterr().out
    assert marker in out and "mlopstui" in out


def test_verbs_and_flags(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "none")}
    assert complete("mlopstui ca", env) == ["canary"]
    assert set(complete("mlopstui co", env)) == {"completion"}
    assert complete("mlopstui status --cont", env) == ["--context"]
    assert "--order-by" in complete("mlopstui runs x --ord", env)
    assert set(complete("mlopstui isvc -o ", env)) == {"json", "yaml", "wide", "name"}
    assert set(complete("mlopstui completion ", env)) == {"bash", "zsh", "fish"}


def test_contexts_from_the_kubeconfig_without_network(tmp_path):
    kc = tmp_path / "kc"
    kc.write_text("""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: prod-eu, context: {cluster: c, user: u}}, {name: prod-us, context: {cluster: c, user: u}},
           {name: staging, context: {cluster: c, user: u}}]
current-context: staging
""")
    assert complete("mlopstui status --context prod", {"KUBECONFIG": str(kc)}) == ["prod-eu", "prod-us"]
    assert complete(f"mlopstui --kubeconfig {kc} doctor --context st", {"KUBECONFIG": ""}) == ["staging"]
    # an unreachable cluster: no namespace candidates, no error text in the prompt
    assert complete("mlopstui status -n ", {"KUBECONFIG": str(kc)}) == []


def test_namespaces_and_inference_services_from_the_api(tmp_path):
    from mlopstui.backends.kube import INFERENCESERVICES, NAMESPACES, KubeClient
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kubeapi"), port=0, run_controllers=False).start()
    try:
        k = KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", "mlops")
        for ns in ("mlops", "mlops-staging"):
            k.create(NAMESPACES, {"metadata": {"name": ns}})
        for name in ("fraud-detection", "fraud-v3", "churn"):
            k.create(INFERENCESERVICES, {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                         "metadata": {"name": name, "namespace": "mlops"},
                                         "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                                                          "storageUri": "s3://m/x"}}}}, "mlops")
        k.close()
        env = {"KUBECONFIG": srv.kubeconfig_path}
        assert complete("mlopstui isvc -n mlops", env) == ["mlops", "mlops-staging"]
        assert complete("mlopstui canary -n mlops fr", env) == ["fraud-detection", "fraud-v3"]
        assert complete("mlopstui promote -n mlops-staging fr", env) == []
    finally:
        srv.stop()
