"""Localization recall at the benchmark thresholds of Sattler et al. (CVPR 2018), as the paper reports it.

A query counts at a threshold (metres, degrees) when BOTH its position and rotation errors are strictly below it
(the comparison hloc's evaluation uses). A query without a pose counts as a miss: give it an infinite (or NaN)
error rather than leaving it out, so the denominator is always the number of queries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# (metres, degrees): the paper's high, medium and coarse precision.
THRESHOLDS: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))


def finite_or_none(value: float | None) -> float | None:
    """An error for JSON, which has no Infinity: None for an unknown or infinite one (a failed localization)."""
    return None if value is None or not np.isfinite(value) else float(value)


def _errors(errors_m: Sequence[float], errors_deg: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    dt = np.asarray(errors_m, dtype=np.float64).reshape(-1)
    dr = np.asarray(errors_deg, dtype=np.float64).reshape(-1)
    if dt.shape != dr.shape:
        raise ValueError(f"{len(dt)} position errors but {len(dr)} rotation errors")
    # NaN compares False, so a NaN error is a miss like an infinite one.
    return dt, dr


def recall_at_thresholds(errors_m: Sequence[float], errors_deg: Sequence[float],
                         thresholds: Sequence[tuple[float, float]] = THRESHOLDS) -> list[float]:
    """Fraction of queries (0..1) within each (metres, degrees) threshold; 0 for an empty set."""
    dt, dr = _errors(errors_m, errors_deg)
    if not len(dt):
        return [0.0 for _ in thresholds]
    return [float(np.mean((dt < m) & (dr < d))) for m, d in thresholds]


def median_errors(errors_m: Sequence[float], errors_deg: Sequence[float]) -> tuple[float, float]:
    """Median position and rotation error over ALL queries (failures included as inf; NaN when empty)."""
    dt, dr = _errors(errors_m, errors_deg)
    if not len(dt):
        return float("nan"), float("nan")
    dt = np.where(np.isnan(dt), np.inf, dt)
    dr = np.where(np.isnan(dr), np.inf, dr)
    return float(np.median(dt)), float(np.median(dr))


@dataclass
class RecallRow:
    """One line of a recall table: a condition, a group of conditions, or everything."""

    label: str
    queries: int
    localized: int  # queries with a finite error
    recall: list[float]  # one fraction per threshold
    median_m: float
    median_deg: float


def _row(label: str, dt: np.ndarray, dr: np.ndarray, thresholds: Sequence[tuple[float, float]]) -> RecallRow:
    median_m, median_deg = median_errors(dt, dr)
    return RecallRow(label, len(dt), int(np.sum(np.isfinite(dt) & np.isfinite(dr))),
                     recall_at_thresholds(dt, dr, thresholds), median_m, median_deg)


def recall_table(errors_m: Sequence[float], errors_deg: Sequence[float], conditions: Sequence[str],
                 groups: Mapping[str, Sequence[str]] | None = None,
                 thresholds: Sequence[tuple[float, float]] = THRESHOLDS) -> list[RecallRow]:
    """Rows per condition (in first-seen order), then per group (e.g. {"night-all": ["night", "night-rain"]};
    groups with no query are left out), then "all"."""
    dt, dr = _errors(errors_m, errors_deg)
    labels = np.asarray(list(conditions), dtype=object)
    if len(labels) != len(dt):
        raise ValueError(f"{len(dt)} errors but {len(labels)} condition labels")
    rows = [_row(c, dt[labels == c], dr[labels == c], thresholds) for c in dict.fromkeys(labels.tolist())]
    for name, members in (groups or {}).items():
        mask = np.isin(labels, list(members))
        if mask.any():
            rows.append(_row(name, dt[mask], dr[mask], thresholds))
    rows.append(_row("all", dt, dr, thresholds))
    return rows


def format_recall_table(rows: Sequence[RecallRow], thresholds: Sequence[tuple[float, float]] = THRESHOLDS,
                        markdown: bool = False) -> str:
    """A fixed-width (or Markdown) table: recall in percent per threshold, localized count, median errors."""
    head = ["condition", "queries", "localized"] + [f"{m:g} m, {d:g}°" for m, d in thresholds] + [
        "median m", "median °"]
    body = [[r.label, str(r.queries), str(r.localized)] + [f"{100 * v:.1f}" for v in r.recall]
            + [f"{r.median_m:.3f}", f"{r.median_deg:.2f}"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(head)] + [fmt(b) for b in body])
