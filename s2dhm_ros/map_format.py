"""The on-disk map: a versioned directory, written atomically and validated on load.

Layout (format version 1):
    map.yaml              version, frame_id, backbone + fingerprint, counts, PCA dim, creation
                          parameters, free-form metadata, and the sha256 of every file below
    references.yaml       per reference image: name, camera, cam_from_world (qvec wxyz, tvec)
    keypoints.npy         (P, 2) float64  map keypoints of all references (COLMAP pixel convention)
    point_index.npy       (P,)   int64    row of points3D.npy seen by each keypoint
    descriptors.npy       (P, C) float16  sparse hypercolumns at the keypoints (half precision:
                                          see docs/embedded-default.md for the measured effect)
    offsets.npy           (R+1,) int64    keypoints of reference r are rows offsets[r]:offsets[r+1]
    points3D.npy          (M, 3) float64  triangulated points in the map frame
    global_descriptors.npy (R, d) float32 PCA-whitened, L2-normalised global descriptors
    pca.npz               mean (D,), projection (D, d)
    retrieval.faiss       faiss inner-product index over global_descriptors
    colmap/               the same reconstruction as a COLMAP model (cameras, images with their
                          known poses, points3D with tracks) for COLMAP tools; not read back.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pycolmap
import yaml

from .geometry import Camera, Pose
from .io.checksum import sha256_file
from .retrieval import PcaWhitening, build_index

FORMAT_VERSION = 1
ARRAYS = ("keypoints", "point_index", "descriptors", "offsets", "points3D", "global_descriptors")
DATA_FILES = (*(f"{name}.npy" for name in ARRAYS), "pca.npz", "references.yaml", "retrieval.faiss")
HEADER_KEYS = ("frame_id", "backbone", "fingerprint", "checksums")


class MapError(ValueError):
    """A map directory that cannot be used; the message says why and what to do."""


@dataclass
class SparseMap:
    frame_id: str
    backbone: str
    fingerprint: str  # the backbone's identity (weights checksum); queries must use the same
    reference_names: list[str]
    cameras: list[Camera]
    cam_from_world: list[Pose]
    keypoints: np.ndarray
    point_index: np.ndarray
    descriptors: np.ndarray
    offsets: np.ndarray
    points3D: np.ndarray
    global_descriptors: np.ndarray
    pca: PcaWhitening
    metadata: dict[str, Any] = field(default_factory=dict)
    index: faiss.Index | None = None

    def __post_init__(self) -> None:
        self.validate()
        if self.index is None:
            self.index = build_index(self.global_descriptors)

    @property
    def num_references(self) -> int:
        return len(self.reference_names)

    def reference_slice(self, r: int) -> slice:
        return slice(int(self.offsets[r]), int(self.offsets[r + 1]))

    def reference_rows(self, ref_ids: list[int]) -> np.ndarray:
        """(sum P_r,) int64 keypoint rows of the references `ref_ids`, in that order."""
        return np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in ref_ids])

    def validate(self) -> None:
        """Shapes and values agree with each other; raise MapError naming the first problem."""
        R, P = len(self.reference_names), len(self.keypoints)
        checks = [
            (R > 0, "the map has no reference images"),
            (len(self.cameras) == R and len(self.cam_from_world) == R, "references, cameras and poses differ in count"),
            (self.keypoints.ndim == 2 and self.keypoints.shape[1] == 2, "keypoints must be (P, 2)"),
            (self.point_index.shape == (P,), "point_index must be (P,)"),
            (self.descriptors.ndim == 2 and len(self.descriptors) == P, "descriptors must be (P, C)"),
            (self.offsets.shape == (R + 1,) and self.offsets[0] == 0 and self.offsets[-1] == P
             and np.all(np.diff(self.offsets) >= 0), "offsets must run from 0 to P, non-decreasing, one per reference"),
            (self.points3D.ndim == 2 and self.points3D.shape[1] == 3, "points3D must be (M, 3)"),
            (P == 0 or (self.point_index.min() >= 0 and self.point_index.max() < len(self.points3D)),
             "point_index refers to missing 3D points"),
            (self.global_descriptors.shape == (R, self.pca.dim), "global descriptors do not match the PCA"),
            (np.isfinite(self.points3D).all() and np.isfinite(self.keypoints).all(),
             "NaN or infinite 3D points or keypoints"),
            (np.isfinite(self.global_descriptors).all(), "NaN in global descriptors"),
        ]
        for ok, message in checks:
            if not ok:
                raise MapError(f"invalid map: {message}")

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write the map atomically: into a temporary sibling directory, then renamed into place.
        An existing map at `path` is replaced only once the new one is complete."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkdtemp, which makes the directory private: a map is read by other users (the node), so it
        # gets the umask's permissions like any new directory.
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            self._write(tmp)
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    def _write(self, out: Path) -> None:
        for name in ARRAYS:
            np.save(out / f"{name}.npy", getattr(self, name), allow_pickle=False)
        np.savez(out / "pca.npz", mean=self.pca.mean, projection=self.pca.projection)
        faiss.write_index(self.index, str(out / "retrieval.faiss"))
        references = [{"name": n, "camera": c.to_dict(), "qvec": p.qvec.tolist(), "tvec": p.t.tolist()}
                      for n, c, p in zip(self.reference_names, self.cameras, self.cam_from_world)]
        (out / "references.yaml").write_text(yaml.safe_dump(references, sort_keys=False))
        self.to_reconstruction().write(str(_mkdir(out / "colmap")))
        files = sorted(p.name for p in out.iterdir() if p.is_file())
        header = {
            "format_version": FORMAT_VERSION,
            "frame_id": self.frame_id,
            "backbone": self.backbone,
            "fingerprint": self.fingerprint,
            "counts": {"references": self.num_references, "keypoints": int(len(self.keypoints)),
                       "points3D": int(len(self.points3D)), "descriptor_dim": int(self.descriptors.shape[1]),
                       "global_dim": int(self.pca.dim)},
            "metadata": self.metadata,
            "checksums": {name: sha256_file(out / name) for name in files},
        }
        (out / "map.yaml").write_text(yaml.safe_dump(header, sort_keys=False))

    def to_reconstruction(self) -> pycolmap.Reconstruction:
        """The map as a COLMAP model: one camera per reference, the known poses, points with tracks."""
        rec = pycolmap.Reconstruction()
        for r, (name, cam, pose) in enumerate(zip(self.reference_names, self.cameras, self.cam_from_world)):
            camera = cam.to_pycolmap()
            camera.camera_id = r + 1
            rec.add_camera_with_trivial_rig(camera)
            sl = self.reference_slice(r)
            image = pycolmap.Image(name=name, keypoints=np.ascontiguousarray(self.keypoints[sl], dtype=np.float64),
                                   camera_id=r + 1, image_id=r + 1)
            rec.add_image_with_trivial_frame(image, pose.to_rigid3d())
        tracks: dict[int, pycolmap.Track] = {}
        for r in range(self.num_references):
            sl = self.reference_slice(r)
            for k, p in enumerate(self.point_index[sl]):
                tracks.setdefault(int(p), pycolmap.Track()).add_element(r + 1, k)
        for p, track in sorted(tracks.items()):
            rec.add_point3D(self.points3D[p], track)
        return rec

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | Path, verify_checksums: bool = True) -> "SparseMap":
        path = Path(path)
        header_path = path / "map.yaml"
        if not header_path.is_file():
            raise MapError(f"{path} is not an s2dhm map (no map.yaml); build one with `s2dhm build-map`")
        try:
            header = yaml.safe_load(header_path.read_text())
        except yaml.YAMLError as e:
            raise MapError(f"{header_path} is corrupt ({e}); rebuild the map") from e
        if not isinstance(header, dict) or "format_version" not in header:
            raise MapError(f"{header_path} has no format_version; it is not an s2dhm map")
        if header["format_version"] != FORMAT_VERSION:
            raise MapError(f"{path} has map format version {header['format_version']}, this s2dhm_ros reads "
                           f"version {FORMAT_VERSION}; rebuild the map with this version")
        missing = [key for key in HEADER_KEYS if key not in header]
        if missing:
            raise MapError(f"{header_path} lacks {missing}; the header is truncated or was not written by "
                           "s2dhm_ros, rebuild the map")
        checksums = header["checksums"] if isinstance(header["checksums"], dict) else {}
        unchecked = [name for name in DATA_FILES if not _is_sha256(checksums.get(name))]
        if unchecked:
            raise MapError(f"{header_path} has no valid checksum for {unchecked}; the header is truncated, "
                           "rebuild the map")
        for name, expected in checksums.items():
            file = path / name
            if not file.is_file():
                raise MapError(f"{path}: file {name} is missing; the map is incomplete, rebuild it")
            if verify_checksums and sha256_file(file) != expected:
                raise MapError(f"{path}: {name} is corrupt (checksum mismatch); rebuild the map")
        try:
            arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False) for name in ARRAYS}
            pca_file = np.load(path / "pca.npz", allow_pickle=False)
            pca = PcaWhitening(pca_file["mean"], pca_file["projection"])
            references = yaml.safe_load((path / "references.yaml").read_text())
            index = faiss.read_index(str(path / "retrieval.faiss"))
            names = [r["name"] for r in references]
            cameras = [Camera.from_dict(r["camera"]) for r in references]
            poses = [Pose.from_qvec_tvec(r["qvec"], r["tvec"]) for r in references]
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, yaml.YAMLError) as e:
            raise MapError(f"{path}: cannot read map data ({e}); the map is corrupt or truncated, rebuild it") from e
        if index.ntotal != len(references):
            raise MapError(f"{path}: retrieval index holds {index.ntotal} images, the map {len(references)}")
        return cls(frame_id=header["frame_id"], backbone=header["backbone"], fingerprint=header["fingerprint"],
                   reference_names=names, cameras=cameras, cam_from_world=poses, pca=pca,
                   metadata=header.get("metadata") or {}, index=index, **arrays)


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def read_header(path: str | Path) -> dict[str, Any]:
    """map.yaml alone (cheap): for summaries and for checking a map before loading it."""
    return yaml.safe_load((Path(path) / "map.yaml").read_text())


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`; an existing target is moved aside first and removed only afterwards."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
