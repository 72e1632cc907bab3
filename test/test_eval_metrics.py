"""Recall at the paper's thresholds on planted errors, with the expected values worked out by hand."""
import numpy as np
import pytest

from s2dhm_ros.evaluation.metrics import (THRESHOLDS, format_recall_table, median_errors, recall_at_thresholds,
                                          recall_table)

# (metres, degrees) per query; the comment says which thresholds each one passes.
ERRORS = [
    (0.10, 1.0),  # high, medium, coarse
    (0.30, 1.0),  # medium, coarse (0.30 m > 0.25 m)
    (0.10, 3.0),  # medium, coarse (3° > 2°)
    (4.00, 9.0),  # coarse
    (0.10, 12.0),  # none: the rotation fails every threshold although the position passes all
    (np.inf, np.inf),  # a failure: a miss everywhere
    (0.25, 1.0),  # exactly on the high position threshold: strict comparison, so medium and coarse only
    (np.nan, np.nan),  # NaN is a miss too
]


def test_recall_hand_computed():
    dt, dr = np.array(ERRORS).T
    assert THRESHOLDS == ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))
    # high: query 0 -> 1/8; medium: 0, 1, 2, 6 -> 4/8; coarse: 0, 1, 2, 3, 6 -> 5/8
    assert recall_at_thresholds(dt, dr) == pytest.approx([1 / 8, 4 / 8, 5 / 8])


def test_both_errors_must_pass():
    assert recall_at_thresholds([0.1], [2.5], [(0.25, 2.0)]) == [0.0]
    assert recall_at_thresholds([0.3], [0.5], [(0.25, 2.0)]) == [0.0]
    assert recall_at_thresholds([0.2], [1.9], [(0.25, 2.0)]) == [1.0]


def test_empty_and_mismatched():
    assert recall_at_thresholds([], []) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        recall_at_thresholds([0.1, 0.2], [1.0])


def test_median_counts_failures():
    # sorted position errors: 0.1 0.2 inf -> median 0.2; rotation 1 3 inf -> 3
    assert median_errors([0.2, np.inf, 0.1], [3.0, np.inf, 1.0]) == (0.2, 3.0)
    assert median_errors([np.inf, np.nan], [1.0, np.inf]) == (np.inf, np.inf)


def test_per_condition_table():
    dt = [0.1, 0.3, np.inf, 0.1, 6.0]
    dr = [1.0, 1.0, np.inf, 1.0, 1.0]
    conditions = ["night", "night", "night", "sun", "dawn"]
    rows = recall_table(dt, dr, conditions, {"day-all": ["sun", "dawn", "rain"], "night-all": ["night"],
                                              "empty": ["snow"]})
    by_label = {r.label: r for r in rows}
    assert [r.label for r in rows] == ["night", "sun", "dawn", "day-all", "night-all", "all"]
    assert by_label["night"].recall == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert (by_label["night"].queries, by_label["night"].localized) == (3, 2)
    assert by_label["sun"].recall == [1.0, 1.0, 1.0]
    assert by_label["dawn"].recall == [0.0, 0.0, 0.0]  # 6 m is beyond the coarse 5 m
    assert by_label["day-all"].recall == pytest.approx([0.5, 0.5, 0.5])
    assert by_label["all"].recall == pytest.approx([2 / 5, 3 / 5, 3 / 5])
    assert by_label["night"].median_m == pytest.approx(0.3)

    text = format_recall_table(rows)
    lines = text.splitlines()
    assert len(lines) == 1 + len(rows) and "0.25 m, 2°" in lines[0]
    assert lines[1].split() == ["night", "3", "2", "33.3", "66.7", "66.7", "0.300", "1.00"]
    markdown = format_recall_table(rows, markdown=True).splitlines()
    assert markdown[0].startswith("| condition |") and markdown[1].startswith("|---|")
    assert markdown[-1].startswith("| all | 5 | 4 | 40.0 | 60.0 | 60.0 |")
