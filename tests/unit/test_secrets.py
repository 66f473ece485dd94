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
