"""Kubernetes API emulator of the mlopstui sandbox.

    from mlopstui.sandbox.kubeapi import KubeApiServer
    srv = KubeApiServer(state_dir, host="127.0.0.1", port=0).start()
    srv.url, srv.kubeconfig_path, srv.request_log
    srv.stop()
"""

from .errors import ApiError
from .registry import Registry, ResourceType
from .server import CONTEXT, VIEWER_CONTEXT, KubeApiServer
from .store import Store

__all__ = ["ApiError", "CONTEXT", "KubeApiServer", "Registry", "ResourceType", "Store", "VIEWER_CONTEXT"]
