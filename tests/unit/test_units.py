from mlopstui.units import human_bytes


def test_human_bytes():
    assert human_bytes(5) == "5 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**4) == "3.0 TiB" and human_bytes(5 * 1024**5) == "5120.0 TiB"
    assert human_bytes(None) == "" and human_bytes(None, missing="?") == "?"
    assert human_bytes(1048576, sep="", short=True) == "1.0M"


def test_human_age_is_kubectls_human_duration():
    # the expected texts are k8s.io/apimachinery pkg/util/duration/duration_test.go's (TestHumanDuration,
    # TestHumanDurationBoundaries; kubernetes/apimachinery@eed236ceee2c19c2753a3d93ac0631dc20750454)
    from mlopstui.units import human_age

    h, d = 3600, 86400
    cases = {1: "1s", 70: "70s", 190: "3m10s", 70 * 60: "70m", 47 * h: "47h", 49 * h: "2d1h",
             (8 * 24 + 2) * h: "8d", 367 * d: "367d", (365 * 2 * 24 + 25) * h: "2y1d", (365 * 8 * 24 + 2) * h: "8y",
             -2: "<invalid>", -1.999: "0s", 0: "0s", 0.999: "0s", 119.999: "119s", 120: "2m", 121: "2m1s",
             150: "2m30s", 599.999: "9m59s", 600: "10m", 601: "10m", 3 * h - 0.001: "179m", 3 * h: "3h",
             3 * h + 60: "3h1m", 8 * h - 0.001: "7h59m", 8 * h: "8h", 8 * h + 59 * 60: "8h", 2 * d - 0.001: "47h",
             2 * d: "2d", 2 * d + h: "2d1h", 8 * d - 0.001: "7d23h", None: "-"}
    assert {k: human_age(k) for k in cases} == cases


def test_ago_is_the_kubectl_age_at_minute_resolution():
    from mlopstui.units import ago

    assert ago(None) == "never" and ago(1000.0, now=1003.9) == "just now" and ago(1000.0, now=1042) == "just now"
    assert ago(1000.0, now=1000 + 150) == "2m ago" and ago(1000.0, now=1000 + 7260) == "121m ago"
    assert ago(1000.0, now=1000 + 3 * 3600 + 61) == "3h1m ago" and ago(1000.0, now=1000 + 49 * 3600) == "2d1h ago"
    # an idle screen that re-computes the age each second repaints once a minute
    assert len({ago(1000.0, now=1000 + 600 + s) for s in range(60)}) == 1


# -- Kubernetes quantities (kubernetes.utils.parse_quantity; the regexes it replaced got these wrong) ---
import pytest  # noqa: E402

from mlopstui.units import cpu_millis, quantity_bytes  # noqa: E402


@pytest.mark.parametrize("text,n", [
    ("4000000k", 4_000_000_000),  # lower-case k is the decimal kilo (k8s.io/apimachinery resource.Quantity)
    ("5Pi", 5 * 2**50),
    ("4e9", 4_000_000_000),  # a decimal exponent
    ("4E9", 4_000_000_000),
    ("1.5Gi", 3 * 2**29),
    ("2Ei", 2 * 2**60),
    ("512Mi", 512 * 2**20),
    ("1048576", 1048576),
    ("100m", 1),  # a milli-byte rounds up to one byte, as Quantity.Value() does
    (2147483648, 2147483648),
])
def test_quantity_bytes(text, n):
    assert quantity_bytes(text) == n


@pytest.mark.parametrize("bad", [None, "", "abc", "1Qi", "Gi", "1.5.5", "-", "1Ki2", " 1Gi"])
def test_quantity_bytes_invalid(bad):
    assert quantity_bytes(bad) is None


@pytest.mark.parametrize("text,n", [("100m", 100), ("1", 1000), ("1.5", 1500), ("2e-1", 200), ("0.0001", 1)])
def test_cpu_millis(text, n):
    assert cpu_millis(text) == n


def test_one_parse_time_keeps_the_utc_offset():
    import datetime as dt

    from mlopstui.models import pipelines, serving, stack
    from mlopstui.units import parse_time

    z = 1767323045.0  # 2026-01-02T03:04:05Z
    assert parse_time("2026-01-02T03:04:05Z") == z and parse_time("2026-01-02T05:04:05+02:00") == z
    assert parse_time("2026-01-02T03:04:05") == z  # naive: UTC, not the machine's zone
    assert parse_time("2026-01-02T03:04:05.5Z") == z + 0.5 and parse_time("2026-01-02T03:04:05.123456789Z") == z + 0.123456
    assert parse_time(dt.datetime(2026, 1, 2, 3, 4, 5)) == z  # a YAML timestamp
    assert [parse_time(v) for v in (None, "", "yesterday", 12)] == [None] * 4
    assert serving.parse_time is stack.parse_time is pipelines.parse_time is parse_time
