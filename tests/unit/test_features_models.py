"""Freshness arithmetic, cron schedule intervals, Job rows and the Job-from-CronJob manifest."""

from datetime import UTC, datetime, timedelta

import pytest

from mlopstui.models import features as m

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def test_never_materialized():
    f = m.freshness(None, NOW, 2 * D)
    assert f.status is m.Freshness.NEVER
    assert f.text == "never materialized, ttl 2d"
    assert f.age is None


def test_fresh_within_ttl_and_schedule():
    f = m.freshness(NOW - 3 * H, NOW, D, None)
    assert f.status is m.Freshness.FRESH
    assert f.text == "materialized 3h ago, ttl 1d"


def test_stale_past_ttl():
    f = m.freshness(NOW - 3 * D, NOW, 2 * D)
    assert f.status is m.Freshness.STALE
    assert "ttl" in f.reason and "null" in f.reason


def test_stale_when_schedule_missed_twice_even_within_ttl():
    # hourly CronJob: 2 periods + 5 min grace is the limit
    assert m.freshness(NOW - (2 * H + timedelta(minutes=4)), NOW, 30 * D, H).status is m.Freshness.FRESH
    f = m.freshness(NOW - (2 * H + timedelta(minutes=6)), NOW, 30 * D, H)
    assert f.status is m.Freshness.STALE
    assert "every 1h" in f.reason


def test_no_ttl_no_schedule_is_fresh_forever_and_says_so():
    f = m.freshness(NOW - 400 * D, NOW, None, None)
    assert f.status is m.Freshness.FRESH
    assert f.text.endswith("no ttl")


def test_naive_timestamps_are_utc_and_future_ends_are_age_zero():
    assert m.freshness(datetime(2026, 3, 1, 11, 0), NOW, D).age == H
    assert m.freshness(NOW + H, NOW, D).age == timedelta(0)


@pytest.mark.parametrize("secs,text", [(0, "0s"), (45, "45s"), (720, "12m"), (3 * 3600, "3h"), (5400, "1h30m"),
                                       (86400, "1d"), (86400 + 4 * 3600, "1d4h"), (30 * 86400, "30d")])
def test_fmt_duration(secs, text):
    assert m.fmt_duration(timedelta(seconds=secs)) == text


@pytest.mark.parametrize("schedule,interval", [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("0 * * * *", H),
    ("@hourly", H),
    ("0,30 * * * *", timedelta(minutes=30)),
    ("5 */6 * * *", 6 * H),
    ("30 2 * * *", D),
    ("@daily", D),
    ("0 9-17 * * *", 16 * H),
    ("0 0 * * 0", 7 * D),
    ("0 0 * * 1-5", 3 * D),
    ("0 0 * * MON", 7 * D),
    ("0 0 1 * *", 31 * D),
    ("* * * * *", timedelta(minutes=1)),
    ("CRON_TZ=UTC 0 * * * *", H),
    ("@every 90m", timedelta(minutes=90)),
    # the worst gap between two firings, by cron's calendar (issue 18: a hand-written parser said
    # 31 d, 365 d and 3 d): the 31st exists in 7 months (Aug 31 -> Oct 31), Feb 29 every 4 years,
    # office hours on weekdays wait from Friday 17:00 to Monday 09:00
    ("0 0 31 * *", 61 * D),
    ("0 0 29 2 *", 1461 * D),
    ("0 9-17 * * 1-5", 2 * D + 16 * H),
    ("0 0 1 */3 *", 92 * D),  # Jul 1 -> Oct 1 (and Oct 1 -> Jan 1)
    ("0 0 1,15 * *", 17 * D),  # Jan 15 -> Feb 1
    ("0 0 13 * 5", 7 * D),  # dom and dow both restricted: either matches (cron's rule)
    ("@yearly", 366 * D),
])
def test_cron_interval(schedule, interval):
    assert m.cron_interval(schedule) == interval


@pytest.mark.parametrize("bad", [None, "", "nonsense", "61 * * * *", "* * *", "*/0 * * * *"])
def test_cron_interval_unknown(bad):
    assert m.cron_interval(bad) is None


CRONJOB = {
    "apiVersion": "batch/v1", "kind": "CronJob",
    "metadata": {"name": "feast-materialize", "namespace": "mlops", "uid": "u-1"},
    "spec": {"schedule": "0 * * * *", "jobTemplate": {
        "metadata": {"labels": {"app": "feast-materialize"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "materialize", "image": "feastdev/feature-server:0.67.0",
             "command": ["sh", "-c", "feast materialize-incremental $(date -u +%Y-%m-%dT%H:%M:%S)"]}]}}}}},
    "status": {"active": [{"name": "feast-materialize-29000000"}], "lastSuccessfulTime": "2026-03-01T11:00:05Z"},
}


def test_cronjob_row_and_detection():
    c = m.MaterializationCronJob.from_k8s(CRONJOB)
    assert (c.name, c.interval, c.active) == ("feast-materialize", H, ["feast-materialize-29000000"])
    assert m.is_materialization_command(c.command)
    assert c.last_success == datetime(2026, 3, 1, 11, 0, 5, tzinfo=UTC)
    assert not m.is_materialization_command("python train.py --materialize-later")
    assert m.is_materialization_command("feast -c repo materialize 2026-01-01 2026-01-02")


def test_job_from_cronjob_is_what_kubectl_creates():
    name = m.manual_job_name("feast-materialize", NOW)
    assert name == "feast-materialize-manual-20260301120000"
    job = m.job_from_cronjob(CRONJOB, name)
    assert job["kind"] == "Job" and job["metadata"]["name"] == name
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["labels"] == {"app": "feast-materialize"}
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("CronJob", "feast-materialize", "u-1", True)
    assert job["spec"] == CRONJOB["spec"]["jobTemplate"]["spec"]
    job["spec"]["backoffLimit"] = 3  # a deep copy: the CronJob is untouched
    assert CRONJOB["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_manual_job_name_fits_63_chars():
    assert len(m.manual_job_name("x" * 80, NOW)) <= 63


def _job(conditions=None, **status):
    return {"metadata": {"name": "j", "namespace": "mlops", "creationTimestamp": "2026-03-01T11:59:00Z",
                         "ownerReferences": [{"kind": "CronJob", "name": "feast-materialize"}],
                         "annotations": {"cronjob.kubernetes.io/instantiate": "manual"}},
            "spec": {"template": {"spec": {"containers": [{"command": ["feast", "materialize-incremental", "x"]}]}}},
            "status": {"conditions": conditions or [], **status}}


def test_job_rows_status_and_duration():
    running = m.MaterializationJob.from_k8s(_job(active=1, startTime="2026-03-01T11:59:30Z"))
    assert (running.status, running.owner, running.manual, running.done) == ("Running", "feast-materialize", True,
                                                                            False)
    assert running.duration(NOW) == timedelta(seconds=30)
    ok = m.MaterializationJob.from_k8s(_job([{"type": "Complete", "status": "True"}], succeeded=1,
                                            startTime="2026-03-01T11:59:30Z",
                                            completionTime="2026-03-01T11:59:50Z"))
    assert ok.status == "Succeeded" and ok.duration(NOW) == timedelta(seconds=20)
    failed = m.MaterializationJob.from_k8s(_job([{"type": "Failed", "status": "True", "message": "boom",
                                                  "lastTransitionTime": "2026-03-01T11:59:40Z"}], failed=1,
                                                startTime="2026-03-01T11:59:30Z"))
    assert (failed.status, failed.message, failed.done) == ("Failed", "boom", True)
    pending = m.MaterializationJob.from_k8s(_job())
    assert pending.status == "Pending" and pending.start == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)


def test_view_row_freshness_and_dict():
    v = m.FeatureViewRow(name="txn", entities=["customer"], features=[m.FieldRow("n", "Int64")], ttl=2 * D,
                         online=True, source="s", last_end=NOW - 3 * H, intervals=[(NOW - D, NOW - 3 * H)])
    d = v.to_dict(NOW, H)
    assert d["freshness"] == "stale" and d["ttl_seconds"] == 172800 and d["text"] == "materialized 3h ago, ttl 2d"
    assert v.freshness(NOW, None).status is m.Freshness.FRESH
    assert m.min_schedule_interval([m.MaterializationCronJob.from_k8s(CRONJOB)]) == H
