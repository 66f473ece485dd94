"""The installer's rendered manifests (pure): catalog labels, Redis maxmemory, MLflow allowed hosts, no inline
secrets, maintained images only, parameter validation, and a doctor with nothing to say about them."""

from __future__ import annotations

import json

import pytest

from mlopstui.doctor import Snapshot
from mlopstui.doctor import run as run_doctor
from mlopstui.doctor.util import service_hosts as doctor_service_hosts
from mlopstui.errors import Kind, MlopsError
from mlopstui.models import manifests as mf
from mlopstui.models.stack import CATALOG, CATALOG_BY_ID, assign_workloads
from mlopstui.secrets import scrub

NS = "install-test"
PASSWORD = "pw-Generated-7c1d9e"


def svc(name: str, labels: dict | None = None, port: int = 5432, ns: str = NS) -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"ports": [{"port": port}]}}


def full_facts() -> mf.Facts:
    """A namespace with PostgreSQL (ours), PgBouncer (ours) and an S3 credentials Secret; MinIO elsewhere."""
    pg = mf.render("postgresql", mf.resolve("postgresql", {}, mf.Facts(NS)), password=PASSWORD)
    services = [o for o in pg.objects if o["kind"] == "Service"]
    facts = mf.Facts(NS, services, {"postgresql-credentials": ("password",),
                                    "minio-credentials": ("access-key", "secret-key")},
                     [svc("minio", port=9000, ns="storage")])
    pgb = mf.render("pgbouncer", mf.resolve("pgbouncer", {}, facts))
    facts.services += [o for o in pgb.objects if o["kind"] == "Service"]
    return facts


def render_all() -> dict[str, mf.Rendered]:
    facts = full_facts()
    out = {}
    for cid in mf.installable_ids():
        out[cid] = mf.render(cid, mf.resolve(cid, {}, facts),
                             password=PASSWORD if cid in ("postgresql", "feast_registry") else None)
    return out


def workload(r: mf.Rendered) -> dict:
    return next(o for o in r.objects if o["kind"] in ("Deployment", "StatefulSet"))


def container(r: mf.Rendered) -> dict:
    return workload(r)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("cid", mf.installable_ids())
def test_catalog_detects_each_rendered_component(cid):
    r = render_all()[cid]
    w = workload(r)
    assigned = assign_workloads(CATALOG, [w])
    assert assigned[cid] == [w], {k: v for k, v in assigned.items() if v}
    # detection also by labels alone (an operator may rename it with --set name=...)
    renamed = mf.render(cid, {**mf.resolve(cid, {"name": "zz-custom"}, full_facts())},
                        password=PASSWORD if cid in ("postgresql", "feast_registry") else None)
    assert assign_workloads(CATALOG, [workload(renamed)])[cid], cid
    for o in r.objects:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "mlopstui"
        assert labels["mlopstui.dev/component"] == cid
        assert o["metadata"]["namespace"] == NS
    # the pods the workload selects carry the selector; the Service selects the same pods
    sel = w["spec"]["selector"]["matchLabels"]
    pod_labels = w["spec"]["template"]["metadata"]["labels"]
    assert sel.items() <= pod_labels.items()
    service = next(o for o in r.objects if o["kind"] == "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_dependency_order_secret_service_workload():
    kinds = [o["kind"] for o in render_all()["postgresql"].objects]
    assert kinds == ["Secret", "Service", "StatefulSet"]
    facts = full_facts()
    reused = mf.render("postgresql", mf.resolve("postgresql", {}, facts), password=None)
    assert [o["kind"] for o in reused.objects] == ["Service", "StatefulSet"]  # existing Secret: never regenerated


@pytest.mark.parametrize("memory,percent,expected", [("2Gi", 80, 1717986918), ("512Mi", 80, 429496729),
                                                     ("1G", 75, 750000000),
                                                     # spellings Kubernetes accepts too (issue 18)
                                                     ("4e9", 80, 3200000000), ("2000000k", 50, 1000000000)])
def test_redis_maxmemory_is_a_share_of_the_limit_with_noeviction(memory, percent, expected):
    r = mf.render("redis", mf.resolve("redis", {"memory": memory, "maxmemory_percent": str(percent)},
                                      mf.Facts(NS)))
    c = container(r)
    args = c["args"]
    maxmem = int(args[args.index("--maxmemory") + 1])
    assert maxmem == expected
    limit = mf.memory_bytes(c["resources"]["limits"]["memory"])
    assert limit == mf.memory_bytes(memory)
    assert maxmem / limit == pytest.approx(percent / 100, abs=0.001)
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert workload(r)["kind"] == "StatefulSet" and c["image"].startswith("redis:")
    assert any("allkeys-lru" in n and "evict" in n for n in r.notes)


def test_redis_allkeys_lru_is_allowed_but_warned():
    r = mf.render("redis", mf.resolve("redis", {"policy": "allkeys-lru"}, mf.Facts(NS)))
    assert "allkeys-lru" in container(r)["args"]
    assert any("silently evicts" in n for n in r.notes)


def test_mlflow_allowed_hosts_backend_and_s3():
    r = render_all()["mlflow"]
    c = container(r)
    args = c["args"]
    assert c["command"] == ["mlflow"] and args[0] == "server"
    flag = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}
    hosts = flag["--allowed-hosts"].split(",")
    service = next(o for o in r.objects if o["kind"] == "Service")
    assert service["metadata"]["name"] == "mlflow-server" and service["spec"]["ports"][0]["port"] == 5000
    for h in ("mlflow-server", "mlflow-server:5000", f"mlflow-server.{NS}", f"mlflow-server.{NS}.svc",
              f"mlflow-server.{NS}.svc.cluster.local", f"mlflow-server.{NS}.svc.cluster.local:5000"):
        assert h in hosts
    assert set(doctor_service_hosts(service)) <= set(hosts)  # what the doctor checks is covered
    # PgBouncer exists in the namespace: MLflow goes through it, password only via PGPASSWORD
    assert flag["--backend-store-uri"] == \
        f"postgresql+psycopg2://mlflow@pgbouncer.{NS}.svc.cluster.local:5432/mlflow"
    assert flag["--default-artifact-root"] == "s3://mlflow-artifacts/"
    assert flag["--workers"] == "4"
    env = {e["name"]: e for e in c["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio.storage.svc.cluster.local:9000"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgresql-credentials", "key": "password"}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "minio-credentials"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secret-key"
    assert c["resources"]["limits"]["memory"] == "2Gi"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"


def test_mlflow_without_pgbouncer_uses_postgresql_and_warns_about_connections():
    pg = mf.render("postgresql", mf.resolve("postgresql", {}, mf.Facts(NS)), password=PASSWORD)
    facts = mf.Facts(NS, [o for o in pg.objects if o["kind"] == "Service"],
                     {"postgresql-credentials": ("password",), "s3-credentials": ("access-key", "secret-key")},
                     [], "http://rgw.example:7480", "config")
    r = mf.render("mlflow", mf.resolve("mlflow", {"extra_hosts": "mlflow.example.com"}, facts))
    args = container(r)["args"]
    assert f"@postgresql.{NS}.svc.cluster.local:5432/mlflow" in args[args.index("--backend-store-uri") + 1]
    assert "mlflow.example.com" in args[args.index("--allowed-hosts") + 1].split(",")
    env = {e["name"]: e for e in container(r)["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://rgw.example:7480"
    assert any("PgBouncer" in n and "max_connections" in n for n in r.notes)


def test_pgbouncer_transaction_pooling_in_front_of_postgresql():
    r = render_all()["pgbouncer"]
    env = {e["name"]: e for e in container(r)["env"]}
    assert env["POOL_MODE"]["value"] == "transaction"
    assert env["DB_HOST"]["value"] == f"postgresql.{NS}.svc.cluster.local"
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgresql-credentials"
    assert workload(r)["kind"] == "Deployment"
    assert any("max_connections" in n for n in r.notes)


def test_pgbouncer_and_mlflow_find_the_bitnami_chart_secret():
    """The seed's `helm install mlflow-db bitnami/postgresql --set ...postgresPassword=...`: the chart keeps the
    superuser password in a Secret named like the release's Service, key postgres-password (user postgres)."""
    facts = mf.Facts(NS, [svc("mlflow-db-postgresql", {"app.kubernetes.io/name": "postgresql"})],
                     {"mlflow-db-postgresql": ("postgres-password",), "minio-credentials": ("access-key", "secret-key")},
                     [svc("minio", port=9000, ns="storage")])
    p = mf.resolve("pgbouncer", {}, facts)
    assert (p["target"], p["db_secret"], p["db_secret_key"], p["user"]) == \
        ("mlflow-db-postgresql", "mlflow-db-postgresql", "postgres-password", "postgres")
    env = {e["name"]: e for e in container(mf.render("pgbouncer", p))["env"]}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-db-postgresql", "key": "postgres-password"}
    assert env["DB_USER"]["value"] == "postgres"
    # an explicit user is kept; a chart Secret with a custom user's `password` key is used as such
    assert mf.resolve("pgbouncer", {"user": "app"}, facts)["user"] == "app"
    facts.secrets["mlflow-db-postgresql"] = ("password", "postgres-password")
    p = mf.resolve("pgbouncer", {}, facts)
    assert (p["db_secret_key"], p["user"]) == ("password", "mlflow")
    # MLflow through that PgBouncer reads the same Secret
    facts.secrets["mlflow-db-postgresql"] = ("postgres-password",)
    facts.services += [o for o in mf.render("pgbouncer", mf.resolve("pgbouncer", {}, facts)).objects
                       if o["kind"] == "Service"]
    m = mf.resolve("mlflow", {}, facts)
    assert (m["db_secret"], m["db_secret_key"], m["db_user"]) == ("mlflow-db-postgresql", "postgres-password", "postgres")


def test_postgresql_statefulset_official_image_pvc_limits_and_generated_secret():
    r = render_all()["postgresql"]
    w, c = workload(r), container(r)
    assert w["kind"] == "StatefulSet" and c["image"].split(":")[0] == "postgres"
    assert w["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert c["resources"]["limits"] == {"memory": "1Gi", "cpu": "1"}
    secret = r.objects[0]
    assert secret["kind"] == "Secret" and secret["stringData"] == {"password": PASSWORD}
    env = {e["name"]: e for e in c["env"]}
    assert "value" not in env["POSTGRES_PASSWORD"]
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    # what is shown (plan, JSON, audit) has the password masked
    shown = json.dumps(scrub(r.objects))
    assert PASSWORD not in shown and '"password": "***"' in shown


def test_no_inline_secrets_and_only_maintained_images():
    for cid, r in render_all().items():
        others = [o for o in r.objects if o["kind"] != "Secret"]
        assert PASSWORD not in json.dumps(others), cid
        assert mf.secret_free(r.objects), cid
        for o in others:
            for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                image = c["image"]
                assert not image.startswith(("bitnami/", "bitnamilegacy/", "docker.io/bitnami", "minio/",
                                             "quay.io/minio")), image
                assert "minio" not in image and "bitnami" not in image
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")  # pinned tags
        # notes survive masking unchanged: they name Secrets but hold no secret value
        for note in r.notes:
            assert scrub(note) == note, note


def test_doctor_has_nothing_to_say_about_the_rendered_stack():
    objs = [o for r in render_all().values() for o in r.objects]
    snap = Snapshot.build(objs)
    findings = [f for f in run_doctor(snap) if f.id not in ("workload-not-ready",)]
    assert findings == [], [(f.id, f.summary) for f in findings]


@pytest.mark.parametrize("cid,sets,words", [
    ("redis", {"memory": "abc"}, "memory quantity"),
    ("redis", {"memory": "-1Gi"}, "memory quantity"),
    ("redis", {"maxmemory_percent": "99"}, "between"),
    ("redis", {"policy": "lru"}, "one of"),
    ("mlflow", {"replicas": "-1"}, "between"),
    ("mlflow", {"workers": "two"}, "whole number"),
    ("mlflow", {"artifact_root": "/mnt/artifacts"}, "s3://"),
    ("pgbouncer", {"pool_mode": "statement"}, "one of"),
    ("postgresql", {"name": "Bad_Name"}, "DNS label"),
    ("postgresql", {"cpu": "lots"}, "CPU quantity"),
    ("postgresql", {"image": "bitnami/postgresql:16.1.0"}, "no more updates"),
    ("postgresql", {"image": "docker.io/bitnamilegacy/postgresql:16"}, "no more updates"),
    ("redis", {"nonsense": "1"}, "no parameter"),
])
def test_bad_parameters_are_refused(cid, sets, words):
    with pytest.raises(MlopsError) as e:
        mf.validate(cid, sets)
    assert e.value.kind is Kind.INVALID and words in e.value.message


def test_parse_sets():
    assert mf.parse_sets(["memory=2Gi", "extra-hosts=a,b", "storage="]) == \
        {"memory": "2Gi", "extra_hosts": "a,b", "storage": ""}
    with pytest.raises(MlopsError, match="KEY=VALUE"):
        mf.parse_sets(["memory"])


def test_components_without_builtin_install_name_the_upstream_route():
    for spec in CATALOG:
        why = mf.refusal(spec.id)
        if spec.id in mf.INSTALLABLE:
            assert why is None
            continue
        assert why, spec.id
    assert "quick install" in mf.refusal("kserve") and "helm" in mf.refusal("kserve").lower()
    s3 = mf.refusal("s3")
    assert "bring your own S3" in s3 and "archived" in s3 and "Apr 2026" in s3
    with pytest.raises(MlopsError) as e:
        mf.validate("kserve", {})
    assert e.value.kind is Kind.UNSUPPORTED
    assert set(mf.INSTALLABLE) <= set(CATALOG_BY_ID)


def test_missing_dependencies_are_named():
    with pytest.raises(MlopsError, match="install postgresql|install it first"):
        mf.resolve("pgbouncer", {}, mf.Facts(NS))
    facts = full_facts()
    facts.secrets.pop("minio-credentials")
    with pytest.raises(MlopsError, match="S3 credentials"):
        mf.resolve("mlflow", {}, facts)
    facts = full_facts()
    facts.secrets["minio-credentials"] = ("user",)
    with pytest.raises(MlopsError, match="no key 'access-key'"):
        mf.resolve("mlflow", {}, facts)
