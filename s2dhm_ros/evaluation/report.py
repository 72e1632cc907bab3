"""A Markdown report of a localized sequence: recall at the benchmark thresholds, errors, inliers and latency,
with PNG plots (trajectory top view, errors and inliers over time, latency histogram). Plots use matplotlib's
Agg canvas directly (no pyplot state, no display); every file is written atomically."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..geometry import Pose, pose_error
from ..io.atomic import write_text_atomic
from .metrics import THRESHOLDS, format_recall_table, recall_table

PLOTS = {"trajectory": "trajectory_top_view.png", "errors": "errors_over_time.png",
         "inliers": "inliers_over_time.png", "latency": "latency_histogram.png"}


@dataclass
class ReportFrame:
    """One image's outcome. Poses are map_from_camera (the camera in the map), so .t is its position."""

    stamp_ns: int
    estimate: Pose | None  # None: localization failed
    groundtruth: Pose | None  # None: no ground truth at this stamp
    num_inliers: int = 0
    latency_s: float | None = None

    @property
    def errors(self) -> tuple[float, float] | None:
        """(metres, degrees); inf for a failure with ground truth; None without ground truth."""
        if self.groundtruth is None:
            return None
        if self.estimate is None:
            return np.inf, np.inf
        return pose_error(self.estimate.inverse(), self.groundtruth.inverse())


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def _seconds(frames: Sequence[ReportFrame]) -> np.ndarray:
    stamps = np.array([f.stamp_ns for f in frames], dtype=np.int64)
    return (stamps - stamps.min()) / 1e9 if len(stamps) else np.zeros(0)


def plot_trajectory(frames: Sequence[ReportFrame], path: Path) -> None:
    fig = Figure(figsize=(6.5, 6))
    ax = fig.add_subplot()
    truth = np.array([f.groundtruth.t for f in frames if f.groundtruth is not None]).reshape(-1, 3)
    estimates = np.array([f.estimate.t for f in frames if f.estimate is not None]).reshape(-1, 3)
    ax.plot(truth[:, 0], truth[:, 1], "-", color="0.4", lw=1.5, label=f"ground truth ({len(truth)})")
    ax.plot(estimates[:, 0], estimates[:, 1], ".", color="tab:red", ms=4, label=f"estimates ({len(estimates)})")
    ax.set(xlabel="x (m)", ylabel="y (m)", title="Trajectory, top view (map frame)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    _save(fig, path)


def plot_errors(frames: Sequence[ReportFrame], path: Path) -> None:
    t = _seconds(frames)
    errors = [f.errors for f in frames]
    judged = np.array([e is not None for e in errors], dtype=bool)
    dt = np.array([e[0] if e is not None else np.nan for e in errors], dtype=np.float64)
    dr = np.array([e[1] if e is not None else np.nan for e in errors], dtype=np.float64)
    failed = judged & ~np.isfinite(dt)
    fig = Figure(figsize=(8, 5.5))
    panels = ((dt, "position error (m)", [m for m, _ in THRESHOLDS]),
              (dr, "rotation error (°)", [d for _, d in THRESHOLDS]))
    for i, (values, unit, thresholds) in enumerate(panels):
        ax = fig.add_subplot(2, 1, i + 1)
        ok = np.isfinite(values)
        ax.semilogy(t[ok], np.maximum(values[ok], 1e-4), ".", ms=4, color="tab:blue")
        for value in thresholds:
            ax.axhline(value, color="0.6", lw=0.8, ls="--")
        for x in t[failed]:
            ax.axvline(x, color="tab:red", lw=0.6, alpha=0.5)
        ax.set(ylabel=unit)
        ax.grid(alpha=0.3, which="both")
    ax.set(xlabel="time (s); red lines: localization failed")
    _save(fig, path)


def plot_inliers(frames: Sequence[ReportFrame], path: Path) -> None:
    t = _seconds(frames)
    ok = np.array([f.estimate is not None for f in frames], dtype=bool)
    inliers = np.array([f.num_inliers for f in frames], dtype=np.float64)
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    ax.plot(t[ok], inliers[ok], ".", ms=4, color="tab:green", label="localized")
    ax.plot(t[~ok], inliers[~ok], "x", ms=4, color="tab:red", label="failed")
    ax.set(xlabel="time (s)", ylabel="PnP inliers", title="Inliers over time")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    _save(fig, path)


def plot_latency(frames: Sequence[ReportFrame], path: Path) -> None:
    latency_ms = np.array([1e3 * f.latency_s for f in frames if f.latency_s is not None])
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.hist(latency_ms, bins=min(40, max(5, len(latency_ms) // 3)), color="tab:purple")
    if len(latency_ms):
        ax.axvline(np.median(latency_ms), color="k", ls="--", lw=1, label=f"median {np.median(latency_ms):.0f} ms")
        ax.legend(loc="best")
    ax.set(xlabel="latency per image (ms)", ylabel="images", title="Latency")
    _save(fig, path)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def write_report(frames: Sequence[ReportFrame], out_dir: str | Path, title: str = "Localization report",
                 run_info: Mapping[str, Any] | None = None) -> Path:
    """Write report.md and the four plots into `out_dir`; returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_trajectory(frames, out / PLOTS["trajectory"])
    plot_errors(frames, out / PLOTS["errors"])
    plot_inliers(frames, out / PLOTS["inliers"])
    plot_latency(frames, out / PLOTS["latency"])

    localized = sum(f.estimate is not None for f in frames)
    judged = [e for e in (f.errors for f in frames) if e is not None]
    lines = [f"# {title}", ""]
    if run_info:
        lines += ["| setting | value |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in run_info.items()]
        lines.append("")
    lines.append(f"Localized {localized} of {len(frames)} images "
                 f"({100 * localized / max(len(frames), 1):.1f} %); {len(judged)} with ground truth.")
    lines.append("")
    if judged:
        dt, dr = np.array(judged, dtype=np.float64).T
        lines += ["## Recall", "", "A frame counts when both its position and rotation errors are below the "
                  "threshold; failed frames with ground truth count as misses.", "",
                  format_recall_table(recall_table(dt, dr, ["all"] * len(dt))[-1:], markdown=True), ""]
    latency = np.array([f.latency_s for f in frames if f.latency_s is not None])
    if len(latency):
        lines += ["## Latency", "", f"median {1e3 * np.median(latency):.1f} ms, 90th percentile "
                  f"{1e3 * np.percentile(latency, 90):.1f} ms, max {1e3 * latency.max():.1f} ms over "
                  f"{len(latency)} images.", ""]
    lines += ["## Plots", ""] + [f"![{key}]({name})" for key, name in PLOTS.items()]
    return write_text_atomic(out / "report.md", "\n".join(lines) + "\n")


def write_bag_report(records: Sequence[Any], run: Any, summary: Mapping[str, Any], out_dir: str | Path) -> Path:
    """The report of `s2dhm localize-bag` (evaluation.bag_localization's FrameRecord / BagLocalizationRun)."""
    frames = [ReportFrame(r.stamp_ns, r.map_from_camera if r.success else None, r.groundtruth, r.num_inliers,
                          r.timings.get("total")) for r in records]
    info = {"bag": run.bag, "map": run.map, "image topic": run.image_topic, "stride": run.stride,
            "map frame": run.map_frame, "ground truth": run.groundtruth,
            "wall time": f"{run.wall_time_s:.1f} s ({summary.get('seconds_per_image', 0.0):.3f} s per image)"}
    return write_report(frames, out_dir, "s2dhm localize-bag report", info)
