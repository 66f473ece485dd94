from mlopstui.units import human_bytes


def test_human_bytes():
    assert human_bytes(5) == "5 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**4) == "3.0 TiB" and human_bytes(5 * 1024**5) == "5120.0 TiB"
    assert human_bytes(None) == "" and human_bytes(None, missing="?") == "?"
    assert human_bytes(1048576, sep="", short=True) == "1.0M"
