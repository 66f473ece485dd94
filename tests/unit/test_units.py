from mlopstui.units import human_bytes


def test_human_bytes():
    assert human_bytes(5) == "5 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**4) == "3.0 TiB" and human_bytes(5 * 1024**5) == "5120.0 TiB"
    assert human_bytes(None) == "" and human_bytes(None, missing="?") == "?"
    assert human_bytes(1048576, sep="", short=True) == "1.0M"


def test_ago_and_human_age():
    from mlopstui.widgets.age import ago, human_age

    assert ago(None) == "never" and ago(1000.0, now=1003.9) == "just now"
    # minute resolution: an idle screen that re-computes the age each second repaints once a minute
    assert ago(1000.0, now=1042) == "just now" and ago(1000.0, now=1000 + 125) == "2m ago"
    assert ago(1000.0, now=1000 + 7260) == "2h01m ago" and ago(1000.0, now=1000 + 2 * 86400 + 7300) == "2d02h ago"
    assert len({ago(1000.0, now=1000 + 600 + s) for s in range(60)}) == 1
    assert human_age(45) == "45s" and human_age(600) == "10m" and human_age(3 * 3600) == "3h"
    assert human_age(5 * 86400) == "5d" and human_age(None) == "-"


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
