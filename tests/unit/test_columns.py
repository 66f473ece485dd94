"""Columns chosen by width and priority (widgets/columns.py), as k9s drops its low-priority columns."""

from rich.text import Text

from mlopstui.widgets.columns import Col, as_col, fit, layout


def test_everything_fits_at_its_natural_width():
    cols = [Col("NAME", 0), Col("STATUS", 0), Col("AGE", 3)]
    assert layout(cols, [10, 8, 4], available=80) == [10, 8, 4]


def test_low_priority_columns_go_first_and_priority_zero_stays():
    cols = [Col("NAME", 0), Col("VERSION", 5), Col("AGE", 6), Col("STATUS", 0)]
    # 12 + 10 + 6 + 10 = 38 with padding 2: at 30 the AGE column (6) goes, at 26 VERSION too
    assert layout(cols, [10, 8, 4, 8], available=34) == [10, 8, None, 8]
    assert layout(cols, [10, 8, 4, 8], available=26) == [10, None, None, 8]
    assert layout(cols, [10, 8, 4, 8], available=5) == [10, None, None, 8]  # always kept, however narrow


def test_wide_columns_give_up_width_before_a_column_is_dropped():
    cols = [Col("NAME", 0), Col("FINDING", 0, wide=True, min_width=10), Col("AGE", 2)]
    # natural 10 + 60 + 4 (+6 padding) = 80; at 40 the finding is cut, the age stays
    assert layout(cols, [10, 60, 4], available=40) == [10, 20, 4]
    assert layout(cols, [10, 60, 4], available=24) == [10, 10, None]


def test_plain_labels_get_defaults_first_and_status_always():
    assert as_col("NAME", 0).priority == 0
    assert as_col("STATUS", 3).priority == 0 and as_col("READY", 2).priority == 0
    assert as_col("NODE", 4).priority == 4
    assert as_col("MESSAGE", 5).wide


def test_fit_cuts_with_an_ellipsis_and_keeps_the_style():
    cut = fit(Text("✗ Job mlops/train: no MLFLOW_TRACKING_URI", style="bold red"), 12)
    assert cut.plain == "✗ Job mlops…" and str(cut.style) == "bold red"
    assert fit("short", 12) == "short"
