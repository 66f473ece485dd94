from mlopstui.secrets import MASK, mask_env, mask_text, mask_uri, scrub


def test_uri_password_masked():
    assert mask_uri("postgresql://postgres:postgres@db.mlops.svc:5432/mlflow") == \
        "postgresql://postgres:***@db.mlops.svc:5432/mlflow"
    assert mask_uri("redis://:hunter2@redis:6379/0") == "redis://:***@redis:6379/0"
    assert mask_uri("http://mlflow:5000") == "http://mlflow:5000"


def test_free_text():
    text = mask_text("AWS_SECRET_ACCESS_KEY=supersecret --auth.rootPassword=supersecret "
                     "Authorization: Bearer abc.def.ghi token: t0k3n")
    assert "supersecret" not in text and "abc.def" not in text and "t0k3n" not in text


def test_env_and_secret_objects():
    assert mask_env("AWS_SECRET_ACCESS_KEY", "x") == MASK
    assert mask_env("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000") == "http://minio:9000"
    pod = {"spec": {"containers": [{"env": [{"name": "AWS_ACCESS_KEY_ID", "value": "admin"},
                                            {"name": "DB", "value": "postgresql://u:pw@h/db"}]}]}}
    out = scrub(pod)
    env = out["spec"]["containers"][0]["env"]
    assert env[0]["value"] == MASK and env[1]["value"] == "postgresql://u:***@h/db"
    secret = {"kind": "Secret", "data": {"secret-key": "c3VwZXJzZWNyZXQ="}}
    assert scrub(secret)["data"] == {"secret-key": MASK}
    assert pod["spec"]["containers"][0]["env"][0]["value"] == "admin"  # input untouched


def test_flags_masked_but_prose_left_readable():
    assert mask_text("--password hunter2 --user bob") == "--password *** --user bob"
    assert mask_text("--secret-key abc") == "--secret-key ***"
    assert mask_text('-p --password "a b"') == "-p --password ***"
    # a secret-ish word followed by a space in a sentence is not a value
    assert mask_text("create the Secret mlops/aws-creds first") == "create the Secret mlops/aws-creds first"
    assert mask_text("password authentication failed for user x") == "password authentication failed for user x"
    assert mask_text("password: hunter2") == "password: ***"


# -- issue 18: URIs by the userinfo rules, more secret names ---------------------------------------------
import pytest  # noqa: E402


@pytest.mark.parametrize("uri,masked", [
    # a password with '/' '+' '=' (base64): SQLAlchemy's URL grammar takes everything up to the '@'
    ("postgresql://mlflow:ab/cd+ef==@pg/db", "postgresql://mlflow:***@pg/db"),
    # a password with '@': the userinfo ends at the last '@' (urllib's rule)
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    ("redis://:p@ss:w/rd@redis:6379/0", "redis://:***@redis:6379/0"),
    ("postgresql+psycopg2://mlflow:s3cr%40t@pgbouncer.mlops.svc:6432/mlflow?sslmode=require",
     "postgresql+psycopg2://mlflow:***@pgbouncer.mlops.svc:6432/mlflow?sslmode=require"),
    ("s3://bucket/path@v2/model", "s3://bucket/path@v2/model"),  # no userinfo: nothing to mask
    ("http://mlflow:5000/#/experiments", "http://mlflow:5000/#/experiments"),
])
def test_uri_userinfo_rules(uri, masked):
    assert mask_uri(uri) == masked
    assert mask_text(f"backend-store-uri {uri} failed") == f"backend-store-uri {masked} failed"


def test_uri_in_text_and_quotes_and_bare_userinfo():
    out = mask_text("--backend-store-uri='postgresql://mlflow:ab/cd+ef==@pg/db' --host 0.0.0.0")
    assert "cd+ef" not in out and "ab/" not in out and "@pg/db" in out and "--host 0.0.0.0" in out
    # '@' in a fragment or query is no userinfo: an MLflow UI link stays as it is
    assert mask_uri("http://mlflow:5000/#/models/fraud@champion") == "http://mlflow:5000/#/models/fraud@champion"


@pytest.mark.parametrize("name", ["REDIS_PASS", "DB_PASSWD", "OPENAI_APIKEY", "GCP_CREDENTIALS", "SMTP_PASS",
                                  "mlflow-db-pass"])
def test_more_secret_names(name):
    assert mask_env(name, "hunter2") == MASK
    assert mask_text(f"{name}=hunter2") == f"{name}={MASK}"


@pytest.mark.parametrize("name", ["BYPASS_PROXY", "COMPASS_URL", "PASSTHROUGH"])
def test_pass_inside_a_word_is_no_secret_name(name):
    assert mask_env(name, "http://x:80") == "http://x:80"
