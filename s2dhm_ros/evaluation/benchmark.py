"""Localize every query of a benchmark split and write what visuallocalization.net and the user need: the
submission file, a JSON of every query's outcome and, where ground truth is known, a recall table by condition.

The localizer is passed in as a callable so that the bookkeeping here is tested without a map or a network."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from ..geometry import Pose, pose_error
from ..io.atomic import write_text_atomic
from .datasets.common import BenchmarkSplit, Query
from .metrics import format_recall_table, recall_table
from .submission import write_submission


class Outcome(Protocol):
    """What a localize callable returns (s2dhm_ros.localizer.LocalizationResult has these fields)."""

    success: bool
    cam_from_world: Pose | None
    num_inliers: int
    failure_reason: str | None


Localize = Callable[[Query], Outcome]


@dataclass
class QueryResult:
    split: str
    name: str  # the submission name
    condition: str
    cam_from_world: Pose | None
    num_inliers: int
    seconds: float
    failure_reason: str | None = None
    error_m: float | None = None  # with ground truth: inf when no pose
    error_deg: float | None = None

    def to_json(self) -> dict:
        def finite(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        pose = self.cam_from_world
        return {"split": self.split, "name": self.name, "condition": self.condition,
                "qvec_wxyz": None if pose is None else pose.qvec.tolist(),
                "tvec": None if pose is None else pose.t.tolist(), "num_inliers": self.num_inliers,
                "seconds": self.seconds, "failure_reason": self.failure_reason,
                "error_m": finite(self.error_m), "error_deg": finite(self.error_deg)}


def localize_split(split: BenchmarkSplit, localize: Localize, progress: bool = True) -> list[QueryResult]:
    """One result per query, in the split's order; errors against the query's ground truth where it has one."""
    results = []
    for query in tqdm(split.queries, desc=f"localize {split.name}", unit="img", disable=not progress):
        start = time.perf_counter()
        outcome = localize(query)
        seconds = time.perf_counter() - start
        pose = outcome.cam_from_world if outcome.success else None
        result = QueryResult(split.name, query.submission_name, query.condition, pose, int(outcome.num_inliers),
                             seconds, None if pose is not None else (outcome.failure_reason or "no pose"))
        truth = query.frame.cam_from_world
        if truth is not None:
            result.error_m, result.error_deg = (np.inf, np.inf) if pose is None else pose_error(pose, truth)
        results.append(result)
    return results


def recall_report(results: Sequence[QueryResult], groups: dict[str, list[str]] | None = None,
                  markdown: bool = False) -> str | None:
    """The recall table over the queries with ground truth, by condition; None when none has any."""
    judged = [r for r in results if r.error_m is not None]
    if not judged:
        return None
    rows = recall_table([r.error_m for r in judged], [r.error_deg for r in judged], [r.condition for r in judged],
                        groups)
    return format_recall_table(rows, markdown=markdown)


def write_outputs(results: Sequence[QueryResult], out_dir: str | Path, benchmark: str,
                  groups: dict[str, list[str]] | None = None, run_info: dict | None = None) -> dict[str, Path]:
    """<benchmark>_submission.txt, results.json and, with ground truth, recall.md; returns the paths written."""
    out = Path(out_dir)
    paths = {"submission": write_submission(out / f"{benchmark}_submission.txt",
                                            [(r.name, r.cam_from_world) for r in results
                                             if r.cam_from_world is not None])}
    data = {"benchmark": benchmark, "run": run_info or {}, "queries": len(results),
            "localized": sum(r.cam_from_world is not None for r in results),
            "results": [r.to_json() for r in results]}
    paths["results"] = write_text_atomic(out / "results.json", json.dumps(data, indent=1))
    table = recall_report(results, groups, markdown=True)
    if table is not None:
        judged = sum(r.error_m is not None for r in results)
        text = (f"# {benchmark}: recall by condition\n\n{judged} of {len(results)} queries have ground truth; a "
                "query counts when both errors are below the threshold, failures count as misses.\n\n"
                f"{table}\n")
        paths["recall"] = write_text_atomic(out / "recall.md", text)
    return paths
