"""Localize every query of a benchmark split and write what visuallocalization.net and the user need: the
submission file, a JSON of every query's outcome and, where ground truth is known, a recall table by condition.

The localizer is passed in as a callable so that the bookkeeping here is tested without a map or a network.

Failed queries: by default (`fallback_to_retrieval`) a query whose PnP failed gets the pose of its top-1 retrieved
reference image, as the official S2DHM code does (pose_prediction/predictor.py `_nearest_neighbor_prediction`:
a reference whose PnP fails contributes its own pose with -1 inliers, and the argmax over the top N then picks
the first-ranked one when every PnP failed) and as hloc's RobotCar `localize.py` does (`closest =
db_images[db_ids[0]]`). The published recalls therefore include such poses; the benchmark counts an absent query
as a failure, so the fallback can only add recall (mostly at the coarse 5 m / 10° threshold). results.json
records which poses came from PnP and which from retrieval."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from ..geometry import Pose, pose_error
from ..io.atomic import write_text_atomic
from .datasets.common import BenchmarkSplit, Query
from .metrics import finite_or_none, format_recall_table, recall_table
from .submission import write_submission


class Outcome(Protocol):
    """What a localize callable returns (s2dhm_ros.localizer.LocalizationResult has these fields, and `retrieved`:
    the names of the retrieved references, best first, which the fallback reads when present)."""

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
    failure_reason: str | None = None  # why PnP gave no pose (kept when the fallback supplied one)
    error_m: float | None = None  # with ground truth: inf when no pose
    error_deg: float | None = None
    fallback_reference: str | None = None  # cam_from_world is this retrieved reference's pose (PnP failed)

    @property
    def pose_source(self) -> str | None:
        """Where the pose comes from: "pnp", "retrieval" (the top-1 reference's pose) or None (no pose: the query
        is absent from the submission)."""
        if self.cam_from_world is None:
            return None
        return "retrieval" if self.fallback_reference is not None else "pnp"

    def to_json(self) -> dict:
        pose = self.cam_from_world
        return {"split": self.split, "name": self.name, "condition": self.condition,
                "qvec_wxyz": None if pose is None else pose.qvec.tolist(),
                "tvec": None if pose is None else pose.t.tolist(), "num_inliers": self.num_inliers,
                "seconds": self.seconds, "failure_reason": self.failure_reason, "pose_source": self.pose_source,
                "fallback_reference": self.fallback_reference,
                "error_m": finite_or_none(self.error_m), "error_deg": finite_or_none(self.error_deg)}


def localize_split(split: BenchmarkSplit, localize: Localize, progress: bool = True,
                   fallback_to_retrieval: bool = True,
                   reference_poses: Mapping[str, Pose] | None = None) -> list[QueryResult]:
    """One result per query, in the split's order; errors against the query's ground truth where it has one.

    fallback_to_retrieval: a query whose localization failed gets the pose of its top-1 retrieved reference
    (`outcome.retrieved[0]`), looked up in `reference_poses` (default: the split's reference frames; pass the
    map's poses when the map was built elsewhere)."""
    if reference_poses is None:
        reference_poses = {f.name: f.cam_from_world for f in split.references if f.cam_from_world is not None}
    results = []
    for query in tqdm(split.queries, desc=f"localize {split.name}", unit="img", disable=not progress):
        start = time.perf_counter()
        outcome = localize(query)
        seconds = time.perf_counter() - start
        pose = outcome.cam_from_world if outcome.success else None
        result = QueryResult(split.name, query.submission_name, query.condition, pose, int(outcome.num_inliers),
                             seconds, None if pose is not None else (outcome.failure_reason or "no pose"))
        if pose is None and fallback_to_retrieval:
            retrieved = list(getattr(outcome, "retrieved", None) or [])
            if retrieved and reference_poses.get(retrieved[0]) is not None:
                result.cam_from_world, result.fallback_reference = reference_poses[retrieved[0]], retrieved[0]
            else:
                result.failure_reason += ("; no retrieved reference to fall back to" if not retrieved else
                                          f"; the top-1 reference {retrieved[0]} has no known pose")
        truth = query.frame.cam_from_world
        if truth is not None:
            pose = result.cam_from_world
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


def pose_counts(results: Sequence[QueryResult]) -> dict[str, int]:
    """Queries localized by PnP, given their top-1 reference's pose instead, and submitted (either)."""
    sources = [r.pose_source for r in results]
    return {"localized": sources.count("pnp"), "fallback_to_retrieval": sources.count("retrieval"),
            "submitted": len(sources) - sources.count(None)}


def write_outputs(results: Sequence[QueryResult], out_dir: str | Path, benchmark: str,
                  groups: dict[str, list[str]] | None = None, run_info: dict | None = None) -> dict[str, Path]:
    """<benchmark>_submission.txt, results.json and, with ground truth, recall.md; returns the paths written."""
    out = Path(out_dir)
    paths = {"submission": write_submission(out / f"{benchmark}_submission.txt",
                                            [(r.name, r.cam_from_world) for r in results
                                             if r.cam_from_world is not None])}
    data = {"benchmark": benchmark, "run": run_info or {}, "queries": len(results), **pose_counts(results),
            "results": [r.to_json() for r in results]}
    paths["results"] = write_text_atomic(out / "results.json", json.dumps(data, indent=1))
    table = recall_report(results, groups, markdown=True)
    if table is not None:
        judged = sum(r.error_m is not None for r in results)
        fallback = sum(r.pose_source == "retrieval" for r in results if r.error_m is not None)
        text = (f"# {benchmark}: recall by condition\n\n{judged} of {len(results)} queries have ground truth; a "
                "query counts when both errors are below the threshold, failures count as misses"
                + (f"; {fallback} of them are judged on the pose of their top-1 retrieved reference (PnP failed)"
                   if fallback else "") + f".\n\n{table}\n")
        paths["recall"] = write_text_atomic(out / "recall.md", text)
    return paths
