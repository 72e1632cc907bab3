"""Offline evaluation: recall at the benchmark thresholds, submission files for visuallocalization.net, readers
of RobotCar Seasons and Extended CMU Seasons, Markdown reports with plots."""
from .metrics import THRESHOLDS, RecallRow, format_recall_table, median_errors, recall_at_thresholds, recall_table
from .submission import read_submission, submission_line, write_submission

__all__ = ["THRESHOLDS", "RecallRow", "format_recall_table", "median_errors", "read_submission",
           "recall_at_thresholds", "recall_table", "submission_line", "write_submission"]
