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
