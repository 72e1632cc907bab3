"""`s2dhm benchmark map-build`: time and peak memory of each map-building stage for growing numbers of
references, so that the growth is visible, optionally against another commit's builder on the same inputs.

Two kinds of input:
* rendered (up to `--rendered-up-to` references): the synthetic street rendered along a drive, 1 m apart, and
  the whole builder on the images, feature extraction included (images rendered beforehand to PNG files, which
  the build reads as it would a user's images; rendering is not timed, and no image is held in memory, so that
  the peak memory is the builder's);
* generated (above it): references whose features are generated from known 3D points and written to the feature
  cache before the build, which therefore extracts nothing. Cameras 1 m apart along a straight street look down
  it; points lie on the two facades (10 per metre per facade); each camera's keypoints are the projections of the
  points it sees (0.5 px noise) plus 20 % distractors; a point's detector descriptor is a random unit vector seen
  with noise, distractors get random ones; sparse hypercolumns are random (C = 64, not the backbone's C, to keep a
  20,000-image benchmark within a few GB); global descriptors, as long as the default backbone's (the cost of
  their PCA depends on it), vary smoothly along the street. This measures pairs, matching, tracks,
  triangulation, assembly and saving, not extraction.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from ..config import MapBuilderConfig
from ..features import create_extractor
from ..frames import Frame
from ..geometry import Camera, Pose
from ..mapping.builder import build_map, cache_key, cache_settings
from ..mapping.engine import create_engine
from ..mapping.feature_cache import FeatureCache, ReferenceFeatures
from ..process_memory import peak_resident_bytes

POINTS_PER_METRE = 10  # per facade
FACADE_OFFSET_M = 6.0
DESCRIPTOR_DIM, HYPERCOLUMN_DIM = 64, 64
GLOBAL_DIM = 5376  # the default backbone's (dense RootSIFT: 21 pyramid cells x 256): the PCA's cost depends on it


@dataclass
class BuildMeasurement:
    references: int
    input: str  # "rendered" or "generated"
    builder: str  # "current" or the baseline's commit
    total_s: float
    peak_rss_mb: float  # of the build process (workers of a --scheduler not included)
    stages: list[dict] = field(default_factory=list)  # name, seconds, peak_rss_mb
    points3D: int = 0
    keypoints: int = 0
    mean_reprojection_error_px: float = 0.0
    fingerprint: str = ""  # of the map's backbone: the descriptor code that ran


def street_pose(x: float) -> Pose:
    """Camera at (x, 0, 1.5) looking down the street (+x): camera x = -world y, camera y = -world z."""
    R = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])
    return Pose(R, -R @ np.array([x, 0.0, 1.5]))


class NoImage:
    """`Frame.load` of a generated reference: its features are in the cache, so reading it is a bug."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self) -> np.ndarray:
        raise RuntimeError(f"generated reference {self.name} has no image; its features should be cached")


def generated_references(num: int, cache_dir: Path, config: MapBuilderConfig, seed: int = 0,
                         fingerprint: str | None = None) -> list[Frame]:
    """`num` references along a straight street with their features written to a feature cache at `cache_dir`,
    keyed by `fingerprint` (default: this checkout's backbone's)."""
    rng = np.random.default_rng(seed)
    camera = Camera("PINHOLE", 640, 480, (500.0, 500.0, 320.0, 240.0))
    length = num + 40.0
    n_points = int(2 * POINTS_PER_METRE * length)
    xs = np.sort(rng.uniform(-5, length, n_points))
    points = np.stack([xs, np.where(rng.random(n_points) < 0.5, -FACADE_OFFSET_M, FACADE_OFFSET_M),
                       rng.uniform(0, 5, n_points)], axis=1)
    point_desc = rng.standard_normal((n_points, DESCRIPTOR_DIM)).astype(np.float32)
    point_desc /= np.linalg.norm(point_desc, axis=1, keepdims=True)
    frames = [Frame(f"gen/{i:06d}", camera, NoImage(f"gen/{i:06d}"), street_pose(float(i))) for i in range(num)]
    fingerprint = fingerprint or create_extractor(config.features).fingerprint()
    cache = FeatureCache(cache_dir, cache_settings(config, fingerprint, None))
    phase = rng.uniform(0, 2 * np.pi, GLOBAL_DIM)
    for i, frame in enumerate(frames):
        lo, hi = np.searchsorted(xs, [i + 1.0, i + 40.0])
        ids = np.arange(lo, hi)
        uv, depth = _project(points[ids], frame.cam_from_world, camera)
        seen = (depth > 1) & (uv[:, 0] >= 0) & (uv[:, 0] < 640) & (uv[:, 1] >= 0) & (uv[:, 1] < 480)
        ids, uv = ids[seen], uv[seen]
        n_extra = len(ids) // 5
        keypoints = np.concatenate([uv + rng.normal(0, 0.5, uv.shape), rng.uniform([0, 0], [640, 480], (n_extra, 2))])
        noise = rng.normal(0, 0.15 / np.sqrt(DESCRIPTOR_DIM), (len(ids), DESCRIPTOR_DIM))
        desc = np.concatenate([point_desc[ids] + noise,
                               rng.standard_normal((n_extra, DESCRIPTOR_DIM))]).astype(np.float32)
        desc /= np.linalg.norm(desc, axis=1, keepdims=True)
        order = rng.permutation(len(keypoints))
        global_ = np.cos(i / 50.0 * np.arange(1, GLOBAL_DIM + 1) / GLOBAL_DIM + phase).astype(np.float32)
        cache.put(cache_key(frame), ReferenceFeatures(
            keypoints[order], desc[order],
            rng.standard_normal((len(keypoints), HYPERCOLUMN_DIM)).astype(np.float16),
            global_ / np.linalg.norm(global_)))
    return frames


def _project(points: np.ndarray, pose: Pose, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    cam = pose.transform(points)
    fx, fy, cx, cy = camera.params
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy], axis=1), cam[:, 2]


def rendered_references(num: int, size: tuple[int, int], directory: Path, seed: int = 0) -> list[Frame]:
    """`num` renderings of the synthetic street 1 m apart (as the demo bag's drive), written to PNG files in
    `directory` and read back from there by the build (both builders of a comparison read the same files)."""
    from ..io.images import read_image_rgb
    from ..synthetic.render import render
    from ..synthetic.scene import make_street_scene
    from ..synthetic.street_bag import street_camera
    from ..synthetic.trajectory import Drive, camera_mount
    scene = make_street_scene(length=num + 40.0, seed=seed)
    camera = street_camera(*size)
    drive = Drive(scene.road, start_s=10.0, speed=1.0, t0_ns=0)
    directory.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(num):
        cam_from_world = (drive.map_from_base(i * 1_000_000_000) * camera_mount()).inverse()
        path = directory / f"{i:06d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(render(scene, camera, cam_from_world).image, cv2.COLOR_RGB2BGR))
        frames.append(Frame(f"render/{i:06d}.png", camera, (lambda path=path: read_image_rgb(path)), cam_from_world))
    return frames


def measure_current(num: int, rendered: bool, workdir: Path, size: tuple[int, int], scheduler: str | None,
                    config: MapBuilderConfig) -> BuildMeasurement:
    """One build with this checkout's builder (run in a fresh process by `run_benchmark`)."""
    cache_dir = workdir / "features"
    frames = rendered_references(num, size, workdir / "images") if rendered else \
        generated_references(num, cache_dir, config)
    engine = create_engine(scheduler)
    try:
        start = time.perf_counter()
        sparse_map, summary = build_map(frames, config, workdir / "map", progress=False, engine=engine,
                                        cache_dir=None if rendered else cache_dir)
        total = time.perf_counter() - start
    finally:
        engine.close()
    return BuildMeasurement(num, "rendered" if rendered else "generated", "current", total,
                            peak_resident_bytes() / 2**20,
                            [{"name": s.name, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_bytes / 2**20}
                             for s in summary.stages],
                            summary.points3D, summary.keypoints, summary.mean_reprojection_error_px,
                            sparse_map.fingerprint)


# Runs another commit's build_map on frames described in a JSON file: rendered ones from PNG files, generated ones
# from features already in the cache. It uses only what every version of the builder has: Camera.from_dict,
# Pose.from_qvec_tvec, Frame, build_map(cache_dir=), and reports which s2dhm_ros it imported and the map's
# fingerprint, so that a run of the current code instead of the baseline shows.
_BASELINE_SCRIPT = """
import json, sys, time
import cv2
import s2dhm_ros
from s2dhm_ros.frames import Frame
from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.mapping.builder import build_map
spec = json.load(open(sys.argv[1]))
def loader(path):
    def load():
        if path is None:
            raise RuntimeError("generated reference without image")
        return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    return load
frames = [Frame(f["name"], Camera.from_dict(f["camera"]), loader(f["image"]),
                Pose.from_qvec_tvec(f["qvec"], f["tvec"])) for f in spec["frames"]]
start = time.perf_counter()
sparse_map, summary = build_map(frames, output_dir=spec["out"], cache_dir=spec["cache"], progress=False)
print(json.dumps({"total_s": time.perf_counter() - start, "points3D": summary.points3D,
                  "keypoints": summary.keypoints, "error": summary.mean_reprojection_error_px,
                  "stages": [{"name": s.name, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_bytes / 2**20}
                             for s in getattr(summary, "stages", [])],
                  "package": s2dhm_ros.__file__, "fingerprint": sparse_map.fingerprint,
                  "peak_rss_mb": next(int(line.split()[1]) / 1024 for line in open("/proc/self/status")
                                      if line.startswith("VmHWM:"))}))
"""

_FINGERPRINT_SCRIPT = ("from s2dhm_ros.config import MapBuilderConfig\n"
                       "from s2dhm_ros.features import create_extractor\n"
                       "print(create_extractor(MapBuilderConfig().features).fingerprint())")


def _run_in_tree(tree: Path, *args: str) -> str:
    """Python with `tree`'s s2dhm_ros: it runs in `tree`, since `python -c` puts the working directory ahead of
    PYTHONPATH (from this checkout's root the current code would be imported instead of the baseline's)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def baseline_tree(commit: str, workdir: Path) -> Path:
    """`commit`'s s2dhm_ros (git archive of this repository) unpacked under `workdir`."""
    tree = workdir / "baseline-tree"
    tree.mkdir()
    repo = Path(__file__).resolve().parents[2]
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "s2dhm_ros"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def measure_baseline(num: int, rendered: bool, commit: str, workdir: Path, size: tuple[int, int],
                     config: MapBuilderConfig) -> BuildMeasurement:
    """The builder of `commit` on the same references: the same renderings (as PNG files) or the same generated
    features, cached under the baseline's own backbone fingerprint (which changes with the descriptor code)."""
    tree = baseline_tree(commit, workdir)
    if rendered:
        frames = rendered_references(num, size, workdir / "images")
        paths = [str(workdir / "images" / f"{i:06d}.png") for i in range(num)]
    else:
        fingerprint = _run_in_tree(tree, "-c", _FINGERPRINT_SCRIPT)
        frames = generated_references(num, workdir / "features", config, fingerprint=fingerprint)
        paths = [None] * num
    spec = {"out": str(workdir / "map"), "cache": None if rendered else str(workdir / "features"),
            "frames": [{"name": f.name, "camera": f.camera.to_dict(), "qvec": f.cam_from_world.qvec.tolist(),
                        "tvec": f.cam_from_world.t.tolist(), "image": path} for f, path in zip(frames, paths)]}
    (workdir / "frames.json").write_text(json.dumps(spec))
    result = json.loads(_run_in_tree(tree, "-c", _BASELINE_SCRIPT, str(workdir / "frames.json")))
    if not Path(result["package"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the baseline imported s2dhm_ros from {result['package']}, not from {tree}")
    return BuildMeasurement(num, "rendered" if rendered else "generated", commit, result["total_s"],
                            result["peak_rss_mb"], result["stages"], result["points3D"], result["keypoints"],
                            result["error"], result["fingerprint"])


def _in_fresh_process(fn, *args) -> BuildMeasurement:
    """Each build in its own process, so that one build's peak memory is not another's."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def run_benchmark(sizes: list[int], rendered_up_to: int, size: tuple[int, int], scheduler: str | None,
                  baseline: str | None, baseline_up_to: int, config: MapBuilderConfig | None = None,
                  log=print) -> list[BuildMeasurement]:
    config = config or MapBuilderConfig()
    rows = []
    for num in sizes:
        rendered = num <= rendered_up_to
        with tempfile.TemporaryDirectory(prefix="s2dhm-map-build-") as tmp:
            rows.append(_in_fresh_process(measure_current, num, rendered, Path(tmp), size, scheduler, config))
            log(format_row(rows[-1]))
        if baseline and num <= baseline_up_to:
            with tempfile.TemporaryDirectory(prefix="s2dhm-map-build-") as tmp:
                rows.append(measure_baseline(num, rendered, baseline, Path(tmp), size, config))
            log(format_row(rows[-1]))
    return rows


STAGES = ("features", "pairs", "matching", "tracks", "triangulation", "assembly", "save")


def format_row(m: BuildMeasurement) -> str:
    stages = {s["name"]: s for s in m.stages}
    cells = [f"{stages[n]['seconds']:.1f} s / {stages[n]['peak_rss_mb']:.0f} MB" if n in stages else "-"
             for n in STAGES]
    return "| " + " | ".join([str(m.references), m.input, m.builder, *cells, f"{m.total_s:.1f}",
                              f"{m.peak_rss_mb:.0f}", str(m.points3D), f"{m.mean_reprojection_error_px:.3f}"]) + " |"


def format_table(rows: list[BuildMeasurement]) -> str:
    header = ["references", "input", "builder", *STAGES, "total s", "peak RSS MB", "3D points", "mean reproj. px"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [format_row(m) for m in rows]
    currents = {m.references: m for m in rows if m.builder == "current"}
    for m in rows:
        if m.builder != "current" and m.references in currents:
            lines.append(f"\n{m.references} references: {m.total_s / currents[m.references].total_s:.1f}x faster "
                         f"than {m.builder}")
    return "\n".join(lines)


def write_results(rows: list[BuildMeasurement], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "map_build.json").write_text(json.dumps([asdict(m) for m in rows], indent=1))
    (out / "map_build.md").write_text(format_table(rows) + "\n")

