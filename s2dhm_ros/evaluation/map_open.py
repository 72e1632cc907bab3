"""`s2dhm benchmark map-open`: how a map's size on disk, opening time and resident memory grow with its
number of references (100, 1,000, 20,000 by default).

Each map is synthetic but written by the real writer (`SparseMap.save`, with the default storage:
descriptors coded by its codec, block checksums, IVF retrieval from 5,000 references): references along a
route (1 m apart, slowly turning), their global descriptors a random walk on the sphere (consecutive
views alike), K keypoints per reference each seeing a 3D point shared with the next two references,
local descriptors with a decaying PCA spectrum. The arrays are generated into memory-mapped files, so
that a 20,000-reference map is made without holding it in memory.

Each map is then opened in a fresh process (Python + torch imported first, so that their memory is
counted apart), and a few queries (synthetic 512x384 textures through the real Localizer and the
default dense_sift backbone) localized: open time, resident memory (RSS, /proc/self/statm: it
counts the map's file pages read through the memory map) after opening and after the queries, the
process's own peak (VmHWM, /proc/self/status), and the queries' time. The map files were just
written, so the page cache is warm: a cold open reads
the same few files (the header, references, poses, PCA, the retrieval index) from disk.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from ..config import FeaturesConfig, MapStorageConfig
from ..descriptor_codec import DescriptorCodec
from ..geometry import Pose
from ..map_format import ARRAYS, SparseMap, read_header
from ..process_memory import peak_resident_bytes, resident_bytes
from ..retrieval import PcaWhitening

GLOBAL_DIM = 1024  # PCA-whitened global descriptors (RetrievalConfig.pca_dim)


@dataclass
class MapOpenSettings:
    references: tuple[int, ...] = (100, 1000, 20000)
    keypoints: int = 1750  # per reference: the Strecha leave-one-out maps keep about 1,750 (docs/map-format.md)
    queries: int = 3
    query_size: tuple[int, int] = (512, 384)
    # The default storage, but no COLMAP model: it is not read back, and writing it is the build's cost.
    storage: MapStorageConfig = field(default_factory=lambda: MapStorageConfig(colmap_model=False))
    work_dir: Path | None = None  # where the maps are written (default: a temporary folder, removed after)
    seed: int = 0


def run_map_open_benchmark(settings: MapOpenSettings, out: Path | None = None) -> dict[str, Any]:
    """One row per map size; writes map-open.json and map-open.md to `out` when given."""
    from .speed import machine_info

    if min(settings.references) < 2 or settings.keypoints < 3 or settings.queries < 1:
        raise ValueError("need >= 2 references, >= 3 keypoints per reference and >= 1 query")
    work = Path(settings.work_dir or tempfile.mkdtemp(prefix="s2dhm-map-open-"))
    rows = []
    try:
        for references in settings.references:
            path = work / f"map-{references}"
            start = time.perf_counter()
            write_synthetic_map(path, references, settings.keypoints, settings.storage, settings.seed)
            written = time.perf_counter() - start
            measured = _in_fresh_process(path, settings)
            rows.append({"references": references, "keypoints_per_reference": settings.keypoints,
                         "write_s": written, **disk_usage(path), **measured})
            shutil.rmtree(path)
    finally:
        if settings.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    values = dataclasses.asdict(settings)
    values["work_dir"] = str(settings.work_dir) if settings.work_dir else None
    report = {"machine": machine_info(), "settings": values, "rows": rows}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "map-open.json").write_text(json.dumps(report, indent=1))
        (out / "map-open.md").write_text(format_markdown(report))
    return report


# ----------------------------------------------------------------------------- the synthetic map
def write_synthetic_map(path: Path, references: int, keypoints: int, storage: MapStorageConfig, seed: int) -> None:
    """Generate the map's arrays chunk by chunk into memory-mapped scratch files and save it with SparseMap.save."""
    from ..features import create_extractor
    from .speed import query_camera

    rng = np.random.default_rng(seed)
    extractor = create_extractor(FeaturesConfig())
    camera = query_camera(1024, 768)
    R, K = references, keypoints
    P, new_per_reference = R * K, K // 3
    C = extractor_channels(extractor)
    scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=path.parent if path.parent.exists() else None))
    try:
        def scratch_array(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
            return np.lib.format.open_memmap(scratch / f"{name}.npy", "w+", dtype, shape)

        d = storage.descriptor_dim or C
        spectrum = (1.0 / np.sqrt(1.0 + np.arange(d))).astype(np.float32)  # variance decaying along the components
        codec = _random_codec(rng, C, spectrum, storage)
        descriptors = scratch_array("descriptors", (P, codec.code_dim if codec else d),
                                    codec.code_dtype if codec else np.float16)
        xy = scratch_array("keypoints", (P, 2), np.float64)
        point_index = scratch_array("point_index", (P,), np.int64)
        # References 1 m apart along x, turning slowly; each keypoint's point was created by this reference or
        # one of the two before (tracks of three views).
        yaw = np.cumsum(rng.normal(0, 0.02, R))
        centres = np.c_[np.arange(R, dtype=np.float64), np.zeros(R), np.zeros(R)]
        points3D = scratch_array("points3D", (R * new_per_reference, 3), np.float64)
        chunk = max(1, (1 << 22) // (K * d))  # references per chunk: about 16 MB of float32 coefficients
        for r0 in tqdm(range(0, R, chunk), desc=f"synthetic map of {R}", unit="chunk", leave=False):
            r1 = min(R, r0 + chunk)
            rows = slice(r0 * K, r1 * K)
            descriptors[rows] = _random_codes(rng, (r1 - r0) * K, spectrum, codec)
            xy[rows] = rng.random(((r1 - r0) * K, 2)) * [camera.width, camera.height]
            k = np.tile(np.arange(K), r1 - r0)
            r = np.repeat(np.arange(r0, r1), K)
            owner = np.maximum(r - k % 3, 0)
            point_index[rows] = owner * new_per_reference + np.minimum(k // 3, new_per_reference - 1)
            n = (r1 - r0) * new_per_reference
            points3D[r0 * new_per_reference:r1 * new_per_reference] = np.repeat(centres[r0:r1], new_per_reference, 0) \
                + rng.normal(0, 1, (n, 3)) * [3.0, 3.0, 1.0] + [0.0, 0.0, 10.0]
        walk = np.cumsum(rng.normal(size=(R, GLOBAL_DIM)), axis=0) + 5 * rng.normal(size=(1, GLOBAL_DIM))
        global_descriptors = (walk / np.linalg.norm(walk, axis=1, keepdims=True)).astype(np.float32)
        raw_dim = extractor_global_dim(extractor)
        pca = PcaWhitening(np.zeros(raw_dim, np.float32),
                           (rng.normal(size=(raw_dim, GLOBAL_DIM)) / np.sqrt(raw_dim)).astype(np.float32))
        poses = [Pose(Rotation.from_euler("y", a).as_matrix(), -Rotation.from_euler("y", a).as_matrix() @ c)
                 for a, c in zip(yaw, centres)]
        sparse_map = SparseMap(
            frame_id="map", backbone=extractor.name, fingerprint=extractor.fingerprint(),
            reference_names=[f"route/{r:06d}.png" for r in range(R)], cameras=[camera] * R, cam_from_world=poses,
            keypoints=xy, point_index=point_index, descriptors=descriptors,
            offsets=np.arange(R + 1, dtype=np.int64) * K, points3D=points3D, global_descriptors=global_descriptors,
            pca=pca, metadata={"synthetic": "s2dhm benchmark map-open"}, descriptor_codec=codec, storage=storage)
        sparse_map.save(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _random_codec(rng: np.random.Generator, C: int, spectrum: np.ndarray,
                  storage: MapStorageConfig) -> DescriptorCodec | None:
    """A codec of `storage`'s kind for coefficients of standard deviation `spectrum` (no fitting: a product
    quantizer's training and encoding would cost more than the map), None for plain float16."""
    d = len(spectrum)
    if storage.descriptor_codec == "float16" and not storage.descriptor_dim:
        return None
    components = np.linalg.qr(rng.normal(size=(C, d)))[0].astype(np.float32) if storage.descriptor_dim else None
    codec = DescriptorCodec(storage.descriptor_codec, np.zeros(C, np.float32), components, normalize=True)
    if codec.kind == "int8":
        codec.scale = 4 * spectrum / 127
    elif codec.kind == "pq":
        M = storage.pq_subquantizers
        codec.centroids = (rng.standard_normal((M, 256, d // M)) * spectrum.reshape(M, 1, -1)).astype(np.float32)
    return codec


def _random_codes(rng: np.random.Generator, n: int, spectrum: np.ndarray, codec: DescriptorCodec | None) -> np.ndarray:
    """(n, code_dim) codes of random coefficients of standard deviation `spectrum` (unit float16 descriptors
    without a codec); pq codes are uniform."""
    if codec is not None and codec.kind == "pq":
        return rng.integers(0, 256, (n, codec.code_dim), np.uint8)
    coefficients = rng.standard_normal((n, len(spectrum)), np.float32) * spectrum
    if codec is None:
        return (coefficients / np.linalg.norm(coefficients, axis=1, keepdims=True)).astype(np.float16)
    return codec.quantize(coefficients)


def extractor_channels(extractor) -> int:
    """C of the backbone's hypercolumns (from a tiny image: cheaper than knowing each backbone's layers)."""
    return int(extractor.extract(np.zeros((64, 64, 3), np.uint8)).hypercolumns.shape[0])


def extractor_global_dim(extractor) -> int:
    return int(extractor.extract(np.zeros((64, 64, 3), np.uint8)).global_descriptor.numel())


def disk_usage(path: Path) -> dict[str, float]:
    """Bytes per reference of the whole map and of its arrays, and the bytes that opening reads: every file but the
    memory-mapped arrays (offsets excepted) and the COLMAP model."""
    sizes = {p.relative_to(path).as_posix(): p.stat().st_size for p in path.rglob("*") if p.is_file()}
    mapped = {f"{name}.npy" for name in ARRAYS if name != "offsets"}
    references = read_header(path)["counts"]["references"]
    return {"bytes_per_reference": sum(sizes.values()) / references,
            "array_bytes_per_reference": sum(sizes[f"{name}.npy"] for name in ARRAYS) / references,
            "bytes_read_at_open": sum(v for k, v in sizes.items() if k not in mapped and not k.startswith("colmap/"))}


# ----------------------------------------------------------------------------- measurement
def _in_fresh_process(path: Path, settings: MapOpenSettings) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(open_and_localize, (str(path), settings.queries, settings.query_size, settings.seed))


def open_and_localize(path: str, queries: int, query_size: tuple[int, int], seed: int) -> dict[str, float]:
    """Run in a fresh process: open the map, localize `queries` synthetic images; times and resident memory."""
    import torch  # noqa: F401  (imported before measuring: its memory is not the map's)

    from ..localizer import Localizer
    from .speed import query_camera, synthetic_query

    before = resident_bytes()
    start = time.perf_counter()
    sparse_map = SparseMap.load(path)
    open_s = time.perf_counter() - start
    after_open = resident_bytes()
    localizer = Localizer(sparse_map)
    camera = query_camera(*query_size)
    seconds = []
    for q in range(queries):
        image = synthetic_query(*query_size, seed + 1 + q)
        start = time.perf_counter()
        localizer.localize(image, camera)
        seconds.append(time.perf_counter() - start)
    return {"open_s": open_s, "rss_before_open_bytes": before, "rss_after_open_bytes": after_open,
            "rss_after_queries_bytes": resident_bytes(),
            "peak_rss_bytes": peak_resident_bytes(),
            "query_s_first": seconds[0], "query_s_median": float(np.median(seconds))}


# ----------------------------------------------------------------------------- report
def format_markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    mb = 1e6
    lines = [f"# s2dhm benchmark map-open: {s['keypoints']} keypoints per reference, storage "
             f"descriptor_codec={s['storage']['descriptor_codec']}, descriptor_dim={s['storage']['descriptor_dim']}"
             + (f", pq_subquantizers={s['storage']['pq_subquantizers']}" if s['storage']['descriptor_codec'] == "pq"
                else "") + f", IVF from {s['storage']['ivf_min_references']} "
             "references",
             "", f"Machine: {m['cpu']}, {m['cpu_cores']} cores, torch {m['torch']}, load average "
                 f"{m['load_average_1min']:.1f} at the end. RSS: resident memory of a fresh process (Python + torch "
                 f"imported: the 'before' column); {s['queries']} queries of {s['query_size'][0]}x"
                 f"{s['query_size'][1]} px.", "",
             "| references | MB/ref on disk | MB/ref arrays | MB read at open | write s | open s | RSS before open MB "
             "| RSS after open MB | RSS after queries MB | peak RSS MB | first query s | median query s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['references']} | {r['bytes_per_reference'] / mb:.3f} | "
                     f"{r['array_bytes_per_reference'] / mb:.3f} | {r['bytes_read_at_open'] / mb:.1f} | "
                     f"{r['write_s']:.1f} | {r['open_s']:.2f} | {r['rss_before_open_bytes'] / mb:.0f} | "
                     f"{r['rss_after_open_bytes'] / mb:.0f} | {r['rss_after_queries_bytes'] / mb:.0f} | "
                     f"{r['peak_rss_bytes'] / mb:.0f} | {r['query_s_first']:.2f} | {r['query_s_median']:.2f} |")
    return "\n".join(lines) + "\n"
