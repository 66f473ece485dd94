"""Minimal decoder for Kubernetes protobuf request bodies.

kubectl's typed clients (`kubectl create namespace|deployment|job --from=cronjob/...`) POST
`application/vnd.kubernetes.protobuf` bodies and do not fall back to JSON. This decodes the
`k8s\\0` envelope and a hand-written subset of the built-in schemas (field numbers from the
upstream `generated.proto` files). Unknown fields are skipped; callers may fill gaps (e.g. a Job
created from a CronJob takes its spec from the CronJob's jobTemplate).
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes):
    """Yield (field_number, wire_type, value) of one message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v = struct.unpack_from("<q", buf, i)[0]
            i += 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 5:
            v = struct.unpack_from("<i", buf, i)[0]
            i += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        yield num, wt, v


# ---- schemas: field number -> (json name, type) -------------------------------------------------
# types: "s" string, "i" int, "b" bool, "y" bytes(base64), "ss" map<string,string>,
# "sy" map<string,bytes>, "sq" map<string,Quantity>, "t" Time, "q" Quantity, "ios" IntOrString,
# "[...]" repeated, or the name of another schema. Fields marked "!" keep zero values.
S: dict[str, dict[int, tuple[str, str]]] = {
    "ObjectMeta": {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 5: ("uid", "s"),
                   6: ("resourceVersion", "s"), 7: ("generation", "i"), 8: ("creationTimestamp", "t"),
                   11: ("labels", "ss"), 12: ("annotations", "ss"),
                   13: ("ownerReferences", "[OwnerReference"), 14: ("finalizers", "[s")},
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b"), 7: ("blockOwnerDeletion", "b")},
    "LabelSelector": {1: ("matchLabels", "ss"), 2: ("matchExpressions", "[LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "[s")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "[s")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "ss"), 3: ("binaryData", "sy"),
                  4: ("immutable", "b")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "sy"), 3: ("type", "s"), 4: ("stringData", "ss"),
               5: ("immutable", "b")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {1: ("ports", "[ServicePort"), 2: ("selector", "ss"), 3: ("clusterIP", "s"), 4: ("type", "s"),
                    5: ("externalIPs", "[s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "ios"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s")},
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "JobSpec": {1: ("parallelism", "i!"), 2: ("completions", "i!"), 3: ("activeDeadlineSeconds", "i"),
                4: ("selector", "LabelSelector"), 5: ("manualSelector", "b"), 6: ("template", "PodTemplateSpec"),
                7: ("backoffLimit", "i!"), 8: ("ttlSecondsAfterFinished", "i!"), 9: ("completionMode", "s"),
                10: ("suspend", "b")},
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec")},
    "CronJobSpec": {1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i"), 3: ("concurrencyPolicy", "s"),
                    4: ("suspend", "b"), 5: ("jobTemplate", "JobTemplateSpec"),
                    6: ("successfulJobsHistoryLimit", "i!"), 7: ("failedJobsHistoryLimit", "i!"),
                    8: ("timeZone", "s")},
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "i!"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       5: ("minReadySeconds", "i"), 6: ("revisionHistoryLimit", "i!"), 7: ("paused", "b"),
                       9: ("progressDeadlineSeconds", "i!")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {1: ("volumes", "[Volume"), 2: ("containers", "[Container"), 3: ("restartPolicy", "s"),
                4: ("terminationGracePeriodSeconds", "i!"), 5: ("activeDeadlineSeconds", "i"),
                6: ("dnsPolicy", "s"), 7: ("nodeSelector", "ss"), 8: ("serviceAccountName", "s"),
                10: ("nodeName", "s"), 15: ("imagePullSecrets", "[LocalObjectReference"),
                16: ("hostname", "s"), 19: ("schedulerName", "s"), 20: ("initContainers", "[Container"),
                21: ("automountServiceAccountToken", "b!"), 24: ("priorityClassName", "s")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "[s"), 4: ("args", "[s"),
                  5: ("workingDir", "s"), 6: ("ports", "[ContainerPort"), 7: ("env", "[EnvVar"),
                  8: ("resources", "ResourceRequirements"), 9: ("volumeMounts", "[VolumeMount"),
                  13: ("terminationMessagePath", "s"), 14: ("imagePullPolicy", "s"),
                  19: ("envFrom", "[EnvFromSource"), 20: ("terminationMessagePolicy", "s")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s"), 3: ("valueFrom", "EnvVarSource")},
    "EnvVarSource": {1: ("fieldRef", "ObjectFieldSelector"), 3: ("configMapKeyRef", "KeySelector"),
                     4: ("secretKeyRef", "KeySelector")},
    "ObjectFieldSelector": {1: ("apiVersion", "s"), 2: ("fieldPath", "s")},
    "KeySelector": {1: ("", "LocalObjectReference"), 2: ("key", "s"), 3: ("optional", "b")},
    "EnvFromSource": {1: ("prefix", "s"), 2: ("configMapRef", "EnvSource"), 3: ("secretRef", "EnvSource")},
    "EnvSource": {1: ("", "LocalObjectReference"), 2: ("optional", "b")},
    "LocalObjectReference": {1: ("name", "s")},
    "ResourceRequirements": {1: ("limits", "sq"), 2: ("requests", "sq")},
    "VolumeMount": {1: ("name", "s"), 2: ("readOnly", "b"), 3: ("mountPath", "s"), 4: ("subPath", "s")},
    "Volume": {1: ("name", "s"), 2: ("", "VolumeSource")},
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource"), 2: ("emptyDir", "EmptyDirVolumeSource"),
                     6: ("secret", "SecretVolumeSource"),
                     10: ("persistentVolumeClaim", "PVCVolumeSource"), 19: ("configMap", "ConfigMapVolumeSource")},
    "HostPathVolumeSource": {1: ("path", "s"), 2: ("type", "s")},
    "EmptyDirVolumeSource": {1: ("medium", "s"), 2: ("sizeLimit", "q")},
    "SecretVolumeSource": {1: ("secretName", "s"), 3: ("defaultMode", "i"), 4: ("optional", "b")},
    "PVCVolumeSource": {1: ("claimName", "s"), 2: ("readOnly", "b")},
    "ConfigMapVolumeSource": {1: ("", "LocalObjectReference"), 3: ("defaultMode", "i"), 4: ("optional", "b")},
    # authorization.k8s.io/v1 (`kubectl auth can-i`)
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                           5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")},
    "NonResourceAttributes": {1: ("path", "s"), 2: ("verb", "s")},
}

# (apiVersion, kind) -> schema name
KINDS = {("v1", "Namespace"): "Namespace", ("v1", "ConfigMap"): "ConfigMap", ("v1", "Secret"): "Secret",
         ("v1", "ServiceAccount"): "ServiceAccount", ("v1", "Service"): "Service", ("v1", "Pod"): "Pod",
         ("batch/v1", "Job"): "Job", ("batch/v1", "CronJob"): "CronJob", ("apps/v1", "Deployment"): "Deployment",
         ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview"}


def _time(buf: bytes) -> str | None:
    secs = 0
    for num, _wt, v in fields(buf):
        if num == 1:
            secs = v
    if not secs:
        return None
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(buf: bytes) -> str:
    for num, _wt, v in fields(buf):
        if num == 1:
            return v.decode()
    return ""


def _int_or_string(buf: bytes):
    typ, ival, sval = 0, 0, ""
    for num, _wt, v in fields(buf):
        if num == 1:
            typ = v
        elif num == 2:
            ival = v
        elif num == 3:
            sval = v.decode()
    return sval if typ == 1 else ival


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _map_entry(buf: bytes, vtype: str):
    k, val = "", None
    for num, _wt, v in fields(buf):
        if num == 1:
            k = v.decode()
        elif num == 2:
            val = v
    if vtype == "sy":
        return k, base64.b64encode(val or b"").decode()
    if vtype == "sq":
        return k, _quantity(val or b"")
    return k, (val or b"").decode()


def _scalar(typ: str, wt: int, v):
    if typ == "s":
        return v.decode()
    if typ == "i":
        return _signed(v)
    if typ == "b":
        return bool(v)
    if typ == "y":
        return base64.b64encode(v).decode()
    if typ == "t":
        return _time(v)
    if typ == "q":
        return _quantity(v)
    if typ == "ios":
        return _int_or_string(v)
    return decode_message(typ, v)


def decode_message(schema: str, buf: bytes) -> dict:
    spec = S[schema]
    out: dict = {}
    for num, wt, v in fields(buf):
        if num not in spec:
            continue
        name, typ = spec[num]
        keep = typ.endswith("!")
        typ = typ.rstrip("!")
        if typ in ("ss", "sy", "sq"):
            k, val = _map_entry(v, typ)
            out.setdefault(name, {})[k] = val
            continue
        if typ.startswith("["):
            inner = typ[1:]
            if wt == 2 and inner == "i":  # packed
                i = 0
                while i < len(v):
                    x, i = _varint(v, i)
                    out.setdefault(name, []).append(_signed(x))
                continue
            out.setdefault(name, []).append(_scalar(inner, wt, v))
            continue
        val = _scalar(typ, wt, v)
        if name == "":  # embedded (inlined) struct
            out.update(val)
            continue
        if not keep and val in ("", 0, False, None, {}, []):
            continue
        out[name] = val
    return out


def decode(body: bytes) -> dict:
    """Decode a `k8s\\0`-prefixed runtime.Unknown envelope into a JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    api_version = kind = ""
    raw = b""
    for num, _wt, v in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _w2, v2 in fields(v):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
        elif num == 2:
            raw = v
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise ProtobufError(f"protobuf bodies for {api_version}/{kind} are not supported; use JSON")
    obj = decode_message(schema, raw)
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj
