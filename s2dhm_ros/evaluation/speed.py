"""`s2dhm benchmark speed`: per-stage timings of the real Localizer, next to the paper's unoptimised path.

The columns are those of the paper's Table 4 (dense query hypercolumns, correspondence maps, ratio
test, PnP) plus our sub-cell refinement, retrieval and total, for N retrieved references, as median
and p90 over repeated queries after a warm-up. Each repeat also runs, on the same query features and
the same retrieved references, the paper path (`paper_path.match_paper_path`: one convolution per
reference, full sort per keypoint) and the optimised matcher alone. The paper path's dense features,
retrieval and PnP are the same code on the same kept matches, so its total is the localizer's total
with the optimised matching swapped for the paper path's, repeat by repeat: minus the correspondence
maps, the ratio test, the sub-cell refinement and the gathering of the retrieved references'
descriptors into one block (the optimised path's work, which the paper path does not do; the gathering
is timed here on the same references, as the localizer does it), plus the paper path's two stages.

Without `--map`, the map is synthetic: R references of P keypoints with random unit descriptors,
except a fraction planted at true correspondents (the query's own hypercolumn at a cell, plus noise)
whose 3D points are back-projected through a planted query pose, so that PnP has real inliers.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from ..config import FeaturesConfig, LocalizerConfig, MapStorageConfig, MatcherConfig, RetrievalConfig
from ..features import create_extractor
from ..features.base import DenseExtractor, DenseFeatures
from ..geometry import Camera, Pose
from ..io.images import read_image_rgb
from ..localizer import STAGES, Localizer
from ..map_format import SparseMap
from ..matching import DenseMatches, match_sparse_to_dense
from ..retrieval import PcaWhitening
from ..synthetic.textures import noise
from .paper_path import match_paper_path

log = logging.getLogger(__name__)

# The matcher times the sub-cell refinement as its own stage (matching/sparse_to_dense.py): the paper has none.
REFINEMENT = "subcell_refinement"
# (stage key, column title): Table 4's columns first, then our refinement, retrieval and total.
COLUMNS = (("dense_features", "dense query hypercolumns"), ("correspondence_maps", "correspondence maps"),
           ("ratio_test", "ratio test"), ("pnp", "PnP"), (REFINEMENT, "sub-cell refinement"),
           ("retrieval", "retrieval"), ("total", "total"))
assert {key for key, _ in COLUMNS} == set(STAGES)


@dataclass
class SpeedSettings:
    backbone: str = "dense_sift"  # "vgg16" without weights runs a seeded random network (timing only)
    weights: str | None = None
    map_dir: Path | None = None  # a real map instead of the synthetic one
    image: Path | None = None  # a real query image instead of the synthetic texture
    image_size: tuple[int, int] = (512, 384)  # synthetic query (width, height): 512 px on the longer side
    references: int = 15  # synthetic map: reference images
    keypoints: int = 1000  # synthetic map: keypoints per reference
    inlier_fraction: float = 0.3  # synthetic map: keypoints planted at true correspondents
    num_references: tuple[int, ...] = (1, 5, 15)  # N retrieved references
    repeats: int = 10
    warmup: int = 2
    devices: tuple[str, ...] = ()  # empty: cpu, and cuda when available
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    seed: int = 0


def run_speed_benchmark(settings: SpeedSettings, out: Path | None = None) -> dict[str, Any]:
    """Time every (device, N); write speed.json and speed.md to `out` when given; return the report."""
    if settings.matcher.method != "sparse_to_dense":
        raise ValueError("the speed benchmark compares sparse-to-dense paths; use --method sparse_to_dense")
    if settings.repeats < 1 or settings.warmup < 0:
        raise ValueError("need --repeats >= 1 and --warmup >= 0")
    devices = settings.devices or (("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    if "cuda" in devices and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    image = read_image_rgb(settings.image) if settings.image else synthetic_query(*settings.image_size, settings.seed)
    camera = query_camera(image.shape[1], image.shape[0])
    if settings.map_dir is not None:
        sparse_map = SparseMap.load(settings.map_dir)
        backbone = sparse_map.backbone
    else:
        backbone = settings.backbone
        builder = make_extractor(backbone, devices[0], settings.weights)
        sparse_map = synthetic_map(builder.extract(image), camera, builder, settings.references,
                                   settings.keypoints, settings.inlier_fraction, settings.seed)
    rows, matching, speedup = [], [], []
    for device in devices:
        extractor = make_extractor(backbone, device, settings.weights)
        for n in settings.num_references:
            log.info("timing %s on %s with N = %d", backbone, device, n)
            row, paper_row, alone = _time_device(sparse_map, extractor, image, camera, n, device, settings)
            rows += [row, paper_row]
            matching.append(alone)
            speedup.append({"device": device, "num_references": n,
                            "total": paper_row["stages_ms"]["total"]["median"] / row["stages_ms"]["total"]["median"],
                            "matching": alone["speedup"]})
    report = {"machine": machine_info(), "settings": _settings_dict(settings, backbone, sparse_map, image),
              "memory": map_memory(sparse_map), "rows": rows, "matching_alone": matching, "speedup": speedup}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "speed.json").write_text(json.dumps(report, indent=1))
        (out / "speed.md").write_text(format_markdown(report))
    return report


def _time_device(sparse_map: SparseMap, extractor: DenseExtractor, image: np.ndarray, camera: Camera, n: int,
                 device: str, settings: SpeedSettings) -> tuple[dict, dict, dict]:
    """Warm-up + repeats of one query: the localizer, the paper path and the optimised matcher alone."""
    config = LocalizerConfig(features=FeaturesConfig(backbone=extractor.name, weights=settings.weights, device=device),
                             retrieval=RetrievalConfig(num_references=n), matcher=settings.matcher)
    localizer = Localizer(sparse_map, config, extractor=extractor)
    features = extractor.extract(image)  # the matcher-alone inputs: the same query, computed once
    ids = {name: r for r, name in enumerate(sparse_map.reference_names)}
    opt: dict[str, list[float]] = {s: [] for s in STAGES}
    paper: dict[str, list[float]] = {s: [] for s in STAGES}
    alone: list[float] = []
    gathers: list[float] = []
    peak_opt = peak_paper = 0
    _reset_peak(device)
    for i in range(settings.warmup + settings.repeats):
        result = localizer.localize(image, camera)
        peak_opt = max(peak_opt, _reset_peak(device))
        per_ref = [torch.from_numpy(sparse_map.local_descriptors(sparse_map.reference_rows([ids[name]])))
                   for name in result.retrieved]
        gather = _gather_seconds(sparse_map, [ids[name] for name in result.retrieved])
        slow = match_paper_path(per_ref, features.hypercolumns, config.matcher)
        peak_paper = max(peak_paper, _reset_peak(device))
        fast = match_sparse_to_dense(torch.cat(per_ref), features.hypercolumns, config.matcher)
        _reset_peak(device)
        if i == 0:
            equivalence = _same_matches(torch.cat(per_ref), features.hypercolumns, config.matcher, slow)
        if i < settings.warmup:
            continue
        t = result.timings
        optimised_only = t["correspondence_maps"] + t["ratio_test"] + t[REFINEMENT] + gather
        paper_t = {**t, **slow.timings, REFINEMENT: 0.0,
                   "total": t["total"] - optimised_only + slow.timings["correspondence_maps"]
                   + slow.timings["ratio_test"]}
        for s in STAGES:
            opt[s].append(t[s])
            paper[s].append(paper_t[s])
        alone.append(fast.timings["correspondence_maps"] + fast.timings["ratio_test"])
        gathers.append(gather)
    slow_matching = [c + r for c, r in zip(paper["correspondence_maps"], paper["ratio_test"])]
    common = {"device": device, "num_references": n, "num_matches": result.num_matches,
              "num_inliers": result.num_inliers, "success": result.success}
    row = {**common, "path": "optimised", "stages_ms": _stats(opt), "peak_gpu_bytes": _peak_or_none(device, peak_opt),
           "descriptor_gather_ms": _summary(gathers)}
    paper_row = {**common, "path": "paper", "stages_ms": _stats(paper),
                 "peak_gpu_bytes": _peak_or_none(device, peak_paper)}
    matching = {"device": device, "num_references": n, "optimised_ms": _summary(alone),
                "paper_ms": _summary(slow_matching), "speedup": float(np.median(slow_matching) / np.median(alone)),
                "equivalence": equivalence}
    return row, paper_row, matching


def _gather_seconds(sparse_map: SparseMap, ref_ids: list[int]) -> float:
    """Time of what Localizer._match does before matching and the paper path does not: the retrieved
    references' descriptor rows gathered into one (sum P_r, C) block."""
    start = time.perf_counter()
    block = sparse_map.local_descriptors(sparse_map.reference_rows(ref_ids))
    seconds = time.perf_counter() - start
    del block
    return seconds


def _same_matches(descriptors: torch.Tensor, hypercolumns: torch.Tensor, config: MatcherConfig,
                  paper: DenseMatches) -> dict[str, Any]:
    """The paper path against the optimised matcher without sub-cell refinement (which the paper lacks).

    The convolution and the matrix product round differently (~1e-7), so where two cells tie to
    fp32 precision the argmax may differ; such maps are flat at the peak, and the ratio test rejects them.
    """
    exact = match_sparse_to_dense(descriptors, hypercolumns, dataclasses.replace(config, subcell_refinement=False))
    moved = (exact.rows.cpu() != paper.rows) | (exact.cols.cpu() != paper.cols)
    keep_differs = exact.keep.cpu() != paper.keep
    kept_moved = moved & paper.keep
    return {"same_kept_matches": not bool((keep_differs | kept_moved).any()),
            "keep_differs": int(keep_differs.sum()), "kept_argmax_differs": int(kept_moved.sum()),
            "rejected_argmax_differs": int((moved & ~paper.keep).sum()), "matches": len(paper.keep),
            "max_peak_difference": float((exact.peak.cpu() - paper.peak).abs().max()) if len(paper.keep) else 0.0}


def _reset_peak(device: str) -> int:
    """Peak GPU bytes allocated since the last call (0 on CPU)."""
    if device != "cuda":
        return 0
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    return int(peak)


def _peak_or_none(device: str, peak: int) -> int | None:
    return peak if device == "cuda" else None


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = 1000.0 * np.asarray(seconds)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90))}


def _stats(per_stage: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {s: _summary(v) for s, v in per_stage.items()}


# ----------------------------------------------------------------------------- inputs
def make_extractor(backbone: str, device: str, weights: str | None) -> DenseExtractor:
    """The backbone on `device`; vgg16 without weights is a seeded random network (same timings, no accuracy)."""
    config = FeaturesConfig(backbone=backbone, weights=weights, device=device)
    if backbone == "vgg16" and weights is None:
        from ..features.hypercolumns import VGGHypercolumnExtractor
        return VGGHypercolumnExtractor(config, allow_random_init=True)
    return create_extractor(config)


def synthetic_query(width: int, height: int, seed: int) -> np.ndarray:
    """A textured RGB uint8 image: multi-octave noise, so that dense descriptors are distinctive."""
    rng = np.random.default_rng(seed)
    channels = [255.0 * noise(rng, height, width, octaves=7) for _ in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def query_camera(width: int, height: int) -> Camera:
    """A pinhole camera of about 60 degrees horizontal field of view, centred."""
    f = 0.87 * max(width, height)
    return Camera("PINHOLE", width, height, (f, f, width / 2, height / 2))



def synthetic_map(features: DenseFeatures, camera: Camera, extractor: DenseExtractor, references: int,
                  keypoints: int, inlier_fraction: float, seed: int) -> SparseMap:
    """R references x P keypoints; a fraction of each reference's keypoints truly matches the query.

    Planted keypoint: a random query grid cell, its descriptor the query's hypercolumn there plus
    noise (norm 0.5), its 3D point that cell's pixel back-projected at 4-40 m through a random
    query pose. The others: random unit descriptors and random 3D points in front of the query.
    """
    if references < 2 or keypoints < 1 or not 0.0 <= inlier_fraction <= 1.0:
        raise ValueError("the synthetic map needs >= 2 references, >= 1 keypoint and an inlier fraction in [0, 1]")
    rng = np.random.default_rng(seed)
    hc = features.hypercolumns.float().cpu()
    C, h, w = hc.shape
    cam_from_world = Pose(Rotation.from_rotvec(rng.normal(0, 0.2, 3)).as_matrix(), rng.normal(0, 2.0, 3))
    total = references * keypoints
    planted = (rng.random(total) < inlier_fraction)
    cells_r = torch.from_numpy(rng.integers(0, h, total))
    cells_c = torch.from_numpy(rng.integers(0, w, total))
    descriptors = F.normalize(torch.from_numpy(rng.standard_normal((total, C), dtype=np.float32)), dim=1)
    true = F.normalize(hc[:, cells_r, cells_c].T + 0.5 * descriptors, dim=1)
    descriptors[torch.from_numpy(planted)] = true[torch.from_numpy(planted)]
    xy = features.grid_to_pixels(cells_r, cells_c).numpy()
    random_xy = rng.random((total, 2)) * [camera.width, camera.height]
    xy[~planted] = random_xy[~planted]
    rays = np.c_[xy, np.ones(total)] @ np.linalg.inv(camera.K).T
    points3D = cam_from_world.inverse().transform(rays * rng.uniform(4.0, 40.0, (total, 1)))
    dim = features.global_descriptor.numel()
    raw_global = features.global_descriptor.float().cpu().numpy()[None] + rng.normal(
        0, 0.5 / np.sqrt(dim), (references, dim))
    pca = PcaWhitening.fit(raw_global, RetrievalConfig().pca_dim)
    ref_poses = [Pose(cam_from_world.R, cam_from_world.t + rng.normal(0, 0.5, 3)) for _ in range(references)]
    return SparseMap(
        frame_id="map", backbone=extractor.name, fingerprint=extractor.fingerprint(),
        reference_names=[f"synthetic/{r:05d}.png" for r in range(references)],
        cameras=[camera] * references, cam_from_world=ref_poses,
        keypoints=rng.random((total, 2)) * [camera.width, camera.height], point_index=np.arange(total),
        descriptors=descriptors.half().numpy(), offsets=np.arange(references + 1) * keypoints,
        points3D=points3D, global_descriptors=pca(raw_global), pca=pca, metadata={"synthetic": True},
        # the descriptors as the matcher takes them (float16, no codec), so that the planted matches are exact and
        # the timings stay those of matching (what a codec costs is in docs/map-format.md)
        storage=MapStorageConfig(descriptor_codec="float16", descriptor_dim=0))


# ----------------------------------------------------------------------------- report
def map_memory(sparse_map: SparseMap) -> dict[str, float]:
    """Bytes per reference image of what matching reads: fp16 descriptors, keypoints, 3D point indices."""
    per = {name: getattr(sparse_map, name).nbytes / sparse_map.num_references
           for name in ("descriptors", "keypoints", "point_index")}
    return {"descriptor_dtype": str(sparse_map.descriptors.dtype),
            "descriptor_dim": int(sparse_map.descriptors.shape[1]),
            "keypoints_per_reference": len(sparse_map.keypoints) / sparse_map.num_references,
            **{f"{name}_bytes_per_reference": v for name, v in per.items()},
            "map_bytes_per_reference": sum(per.values())}


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "load_average_1min": os.getloadavg()[0],
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def _settings_dict(settings: SpeedSettings, backbone: str, sparse_map: SparseMap, image: np.ndarray) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    values.update(backbone=backbone, map_dir=str(settings.map_dir) if settings.map_dir else None,
                  image=str(settings.image) if settings.image else None, query_size=[image.shape[1], image.shape[0]],
                  map_references=sparse_map.num_references)
    return values


def format_markdown(report: dict[str, Any]) -> str:
    m, s, mem = report["machine"], report["settings"], report["memory"]
    titles = [title for _, title in COLUMNS]
    lines = [f"# s2dhm benchmark speed: {s['backbone']} (C = {mem['descriptor_dim']}), query {s['query_size'][0]}x"
             f"{s['query_size'][1]}, {mem['keypoints_per_reference']:.0f} keypoints per reference",
             "", f"Machine: {m['cpu']}, {m['cpu_cores']} cores ({m['torch_threads']} torch threads), torch {m['torch']}"
             + (f", GPU {m['gpu']}" if m["gpu"] else ", no GPU")
             + f", load average {m['load_average_1min']:.1f} at the end"
             + f". Median / p90 over {s['repeats']} queries after {s['warmup']} warm-up, in ms.", "",
             "| device | N | path | " + " | ".join(titles) + " | speed-up (total) | matches | inliers | peak GPU MiB |",
             "|" + "---|" * (len(titles) + 7)]
    speedups = {(x["device"], x["num_references"]): x for x in report["speedup"]}
    for row in report["rows"]:
        cells = [f"{row['stages_ms'][key]['median']:.1f} / {row['stages_ms'][key]['p90']:.1f}" for key, _ in COLUMNS]
        ratio = f"{speedups[(row['device'], row['num_references'])]['total']:.2f}x" if row["path"] == "paper" else "1"
        peak = f"{row['peak_gpu_bytes'] / 2**20:.0f}" if row["peak_gpu_bytes"] is not None else "-"
        lines.append(f"| {row['device']} | {row['num_references']} | {row['path']} | " + " | ".join(cells)
                     + f" | {ratio} | {row['num_matches']} | {row['num_inliers']} | {peak} |")
    gathers = ", ".join(f"{row['device']} N = {row['num_references']}: {row['descriptor_gather_ms']['median']:.1f}"
                        for row in report["rows"] if "descriptor_gather_ms" in row)
    lines += ["", "Paper total = optimised total - (correspondence maps + ratio test + sub-cell refinement + "
              "descriptor gathering, the optimised path's own work) + the paper path's correspondence maps and "
              f"ratio test. Descriptor gathering, median ms: {gathers}."]
    lines += ["", "Matching alone (correspondence maps + ratio test) on identical inputs:", "",
              "| device | N | optimised ms (median / p90) | paper path ms (median / p90) | speed-up "
              "| same kept matches |",
              "|---|---|---|---|---|---|"]
    for x in report["matching_alone"]:
        lines.append(f"| {x['device']} | {x['num_references']} | {x['optimised_ms']['median']:.1f} / "
                     f"{x['optimised_ms']['p90']:.1f} | {x['paper_ms']['median']:.1f} / {x['paper_ms']['p90']:.1f} | "
                     f"{x['speedup']:.1f}x | {_equivalence_cell(x['equivalence'])} |")
    lines += ["", f"Map memory per reference image: {mem['map_bytes_per_reference'] / 1024:.1f} KiB "
              f"(descriptors {mem['descriptors_bytes_per_reference'] / 1024:.1f} KiB {mem['descriptor_dtype']}, "
              f"keypoints {mem['keypoints_bytes_per_reference'] / 1024:.1f} KiB, "
              f"point indices {mem['point_index_bytes_per_reference'] / 1024:.1f} KiB).", ""]
    return "\n".join(lines)


def _equivalence_cell(e: dict[str, Any]) -> str:
    verdict = "yes" if e["same_kept_matches"] else (
        f"NO ({e['keep_differs']} keep, {e['kept_argmax_differs']} positions differ)")
    if e["rejected_argmax_differs"]:
        verdict += f" ({e['rejected_argmax_differs']} rejected fp32 near-ties moved)"
    return verdict
