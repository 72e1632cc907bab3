"""The on-disk map: a versioned directory, written atomically, opened memory-mapped and checked lazily.

Layout (format version 2):
    map.yaml              version, frame_id, backbone + fingerprint, counts, storage (descriptor encoding,
                          retrieval index, checksum block size), creation parameters, free-form metadata,
                          the size of every array file and the sha256 of every other file
    references.json       names; distinct cameras and the camera of each reference
    cam_from_world.npy    (R, 7) float64  qvec (w, x, y, z) and tvec of each reference
    keypoints.npy         (P, 2) float64  map keypoints of all references (COLMAP pixel convention)
    point_index.npy       (P,)   int64    row of points3D.npy seen by each keypoint
    descriptors.npy       (P, C) float16  sparse hypercolumns at the keypoints (half precision: see
                                          docs/embedded-default.md), or their codes (P, d) float16 / int8
                                          or (P, M) uint8 (storage.descriptors: float16, int8 or pq)
    descriptor_codec.npz  only with codes: s2dhm_ros/descriptor_codec.py (PCA basis, int8 steps, pq centroids);
                          maps written before the codecs hold descriptor_pca.npz (PCA + float16), still read
    offsets.npy           (R+1,) int64    keypoints of reference r are rows offsets[r]:offsets[r+1]
    points3D.npy          (M, 3) float64  triangulated points in the map frame
    global_descriptors.npy (R, d) float32 PCA-whitened, L2-normalised global descriptors
    pca.npz               mean (D,), projection (D, d)
    retrieval.faiss       faiss inner-product index over global_descriptors (exact, or IVF for large maps)
    block_checksums.npz   per .npy array file above: (blocks, 32) uint8 sha256 of its consecutive blocks
    colmap/               the same reconstruction as a COLMAP model (cameras, images with their known poses,
                          points3D with tracks) for COLMAP tools; optional, not read back, not checksummed.

Opening a map reads map.yaml and the small files (each verified against its sha256) and memory-maps
the arrays: nothing of them is read until used. A query reads the rows of its retrieved references,
and every block of a file is verified against its checksum the first time it is read
(io/block_checksums.py), so a damaged file raises MapError instead of giving garbage. Sizes are
checked at open (a truncated file fails at once). The map is verified whole when it is written
(checksums of the bytes as written, then the files read back) and by `s2dhm verify-map`.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pycolmap
import yaml
from scipy.spatial.transform import Rotation

from .config import MapStorageConfig
from .descriptor_codec import DescriptorCodec
from .geometry import Camera, Pose
from .io.block_checksums import CorruptBlock, LazyBlockVerifier, save_npy_with_digests
from .io.checksum import sha256_file
from .io.mapped_array import MappedArray
from .retrieval import PcaWhitening, build_index

FORMAT_VERSION = 2
ARRAYS = ("keypoints", "point_index", "descriptors", "offsets", "points3D", "global_descriptors")
WHOLE_FILES = ("references.json", "cam_from_world.npy", "pca.npz", "retrieval.faiss", "block_checksums.npz")
CODEC_FILE = "descriptor_codec.npz"
LEGACY_PCA_FILE = "descriptor_pca.npz"  # the codec file of maps written before the codecs (PCA + float16)
HEADER_KEYS = ("frame_id", "backbone", "fingerprint", "storage", "array_bytes", "checksums")
REBUILD = "rebuild the map with `s2dhm build-map` (or the map_builder node)"


class MapError(ValueError):
    """A map directory that cannot be used; the message says why and what to do."""


class PoseTable(Sequence):
    """cam_from_world of every reference held as arrays; a Pose is made when one is read (a map of 20,000
    references opens without making 20,000 of them)."""

    def __init__(self, rotations: np.ndarray, translations: np.ndarray):
        self.rotations = rotations  # (R, 3, 3)
        self.translations = translations  # (R, 3)

    @classmethod
    def from_qvec_tvec(cls, table: np.ndarray) -> "PoseTable":
        """table: (R, 7) qvec (w, x, y, z), tvec."""
        rotations = Rotation.from_quat(table[:, [1, 2, 3, 0]]).as_matrix() if len(table) else np.zeros((0, 3, 3))
        return cls(rotations, table[:, 4:7].copy())

    def __len__(self) -> int:
        return len(self.translations)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Pose(self.rotations[i], self.translations[i])


def _pose_arrays(poses: Sequence[Pose]) -> tuple[np.ndarray, np.ndarray]:
    """(R, 3, 3) rotations and (R, 3) translations of `poses` (a PoseTable's own arrays, without making Poses)."""
    if isinstance(poses, PoseTable):
        return poses.rotations, poses.translations
    return np.array([p.R for p in poses]).reshape(-1, 3, 3), np.array([p.t for p in poses]).reshape(-1, 3)


def camera_centers(poses: Sequence[Pose]) -> np.ndarray:
    """(R, 3) camera centres -R^T t in the map frame of the cam_from_world `poses`."""
    rotations, translations = _pose_arrays(poses)
    return -np.einsum("rji,rj->ri", rotations, translations)


def pose_table(poses: Sequence[Pose]) -> np.ndarray:
    """(R, 7) qvec (w, x, y, z, w >= 0) and tvec of `poses`."""
    rotations, translations = _pose_arrays(poses)
    xyzw = Rotation.from_matrix(rotations).as_quat() if len(rotations) else np.zeros((0, 4))
    qvec = xyzw[:, [3, 0, 1, 2]] * np.where(xyzw[:, 3:] < 0, -1.0, 1.0)
    return np.c_[qvec, translations]


def fit_descriptor_codec(storage: MapStorageConfig, descriptors: np.ndarray) -> DescriptorCodec | None:
    """The codec `storage` asks for, fitted on (P, C) descriptors or on their `fit_rows` sample; None when they
    are stored as they are (float16 with all C dimensions)."""
    dim = storage.descriptor_dim if storage.descriptor_dim < descriptors.shape[-1] else 0
    if not dim and storage.descriptor_codec == "float16":
        return None
    return DescriptorCodec.fit(descriptors, storage.descriptor_codec, dim, storage.pq_subquantizers)


@dataclass
class SparseMap:
    frame_id: str
    backbone: str
    fingerprint: str  # the backbone's identity (weights checksum); queries must use the same
    reference_names: list[str]
    cameras: list[Camera]
    cam_from_world: Sequence[Pose]
    keypoints: np.ndarray
    point_index: np.ndarray
    descriptors: np.ndarray  # (P, C) float16, or (P, d) codes of descriptor_codec
    offsets: np.ndarray
    points3D: np.ndarray
    global_descriptors: np.ndarray
    pca: PcaWhitening
    metadata: dict[str, Any] = field(default_factory=dict)
    index: faiss.Index | None = None
    # None: descriptors are stored as they are (float16); with storage.descriptor_dim or a codec other than float16,
    # fitted and applied at construction, so that a map localizes the same in memory as after saving and loading.
    descriptor_codec: DescriptorCodec | None = None
    storage: MapStorageConfig = field(default_factory=MapStorageConfig)
    # False (maps opened from disk): only shapes are checked here, not values (that would read every array);
    # the values were checked when the map was built, and the checksums vouch for them since.
    check_values: InitVar[bool] = True
    path: Path | None = field(default=None, compare=False)  # where the map was opened from
    _mapped: dict[str, MappedArray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self, check_values: bool) -> None:
        if self.descriptor_codec is None and len(self.descriptors):
            self.descriptor_codec = fit_descriptor_codec(self.storage, self.descriptors)
            if self.descriptor_codec is not None:
                self.descriptors = self.descriptor_codec.encode(self.descriptors)
        self.validate(check_values)
        if self.index is None:
            self.index = build_index(self.global_descriptors, self.storage.ivf_min_references)

    @property
    def num_references(self) -> int:
        return len(self.reference_names)

    @property
    def descriptor_dim(self) -> int:
        """C, the dimension of the descriptors the matcher gets (that of the backbone)."""
        return self.descriptor_codec.input_dim if self.descriptor_codec else int(self.descriptors.shape[1])

    def reference_slice(self, r: int) -> slice:
        return slice(int(self.offsets[r]), int(self.offsets[r + 1]))

    def reference_rows(self, ref_ids: list[int]) -> np.ndarray:
        """(sum P_r,) int64 keypoint rows of the references `ref_ids`, in that order."""
        return np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in ref_ids])

    def local_descriptors(self, rows: np.ndarray) -> np.ndarray:
        """(n, C) descriptors of keypoint rows `rows`: read (and checked) from disk for an opened map, decoded when
        stored as codes. float16 as stored, float32 when decoded."""
        codes = self._rows("descriptors", rows)
        return self.descriptor_codec.decode(codes) if self.descriptor_codec else codes

    def keypoint_points3D(self, rows: np.ndarray) -> np.ndarray:
        """(n, 3) 3D points seen by keypoint rows `rows`."""
        return self._rows("points3D", self._rows("point_index", rows))

    def _rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        mapped = self._mapped.get(name)
        if mapped is None:
            return np.asarray(getattr(self, name)[rows])
        try:
            return mapped.rows(rows)
        except CorruptBlock as e:
            raise MapError(f"{self.path}: {e}; the map is damaged, {REBUILD} (`s2dhm verify-map` checks every "
                           "file)") from e

    def verify(self) -> None:
        """Check every block of every array file of an opened map, then every value (reads the whole map)."""
        for name, mapped in self._mapped.items():
            try:
                if mapped.verifier is not None:
                    mapped.verifier.check_all()
            except CorruptBlock as e:
                raise MapError(f"{self.path}: {e}; the map is damaged, {REBUILD}") from e
        self.validate()

    def validate(self, check_values: bool = True) -> None:
        """Shapes (and with check_values, values) agree with each other; raise MapError naming the first problem."""
        R, P = len(self.reference_names), len(self.keypoints)
        codec = self.descriptor_codec
        checks = [
            (R > 0, "the map has no reference images"),
            (len(self.cameras) == R and len(self.cam_from_world) == R, "references, cameras and poses differ in count"),
            (self.keypoints.ndim == 2 and self.keypoints.shape[1] == 2, "keypoints must be (P, 2)"),
            (self.point_index.shape == (P,), "point_index must be (P,)"),
            (self.descriptors.ndim == 2 and len(self.descriptors) == P, "descriptors must be (P, C)"),
            (codec is None or (self.descriptors.shape[1] == codec.code_dim
                               and self.descriptors.dtype == codec.code_dtype), "descriptors do not match their codec"),
            (self.offsets.shape == (R + 1,) and self.offsets[0] == 0 and self.offsets[-1] == P
             and np.all(np.diff(self.offsets) >= 0), "offsets must run from 0 to P, non-decreasing, one per reference"),
            (self.points3D.ndim == 2 and self.points3D.shape[1] == 3, "points3D must be (M, 3)"),
            (self.global_descriptors.shape == (R, self.pca.dim), "global descriptors do not match the PCA"),
        ]
        if check_values:
            checks += [
                (P == 0 or (self.point_index.min() >= 0 and self.point_index.max() < len(self.points3D)),
                 "point_index refers to missing 3D points"),
                (np.isfinite(self.points3D).all() and np.isfinite(self.keypoints).all(),
                 "NaN or infinite 3D points or keypoints"),
                (np.isfinite(self.global_descriptors).all(), "NaN in global descriptors"),
            ]
        for ok, message in checks:
            if not ok:
                raise MapError(f"invalid map: {message}")

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write the map atomically: into a temporary sibling directory, verified there (every file read back
        against the checksums of what was written), then renamed into place. An existing map at `path` is
        replaced only once the new one is complete."""
        path = Path(path)
        # An opened map is copied from its files: never copy damage under fresh checksums.
        self.verify() if self._mapped else self.validate()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkdtemp, which makes the directory private: a map is read by other users (the node), so it
        # gets the umask's permissions like any new directory.
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            self._write(tmp)
            damaged = [c for c in check_map_files(tmp) if not c.ok]
            if damaged:
                raise MapError(f"the map written to {tmp} does not read back as written ({damaged[0].detail}); "
                               "is the disk full or failing?")
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    def _write(self, out: Path) -> None:
        block, codec = self.storage.checksum_block_bytes, self.descriptor_codec
        blocks = {name: save_npy_with_digests(out / f"{name}.npy", getattr(self, name), block) for name in ARRAYS}
        np.savez(out / "block_checksums.npz", **blocks)
        np.save(out / "cam_from_world.npy", pose_table(self.cam_from_world), allow_pickle=False)
        np.savez(out / "pca.npz", mean=self.pca.mean, projection=self.pca.projection)
        if codec is not None:
            np.savez(out / CODEC_FILE, **codec.to_arrays())
        faiss.write_index(self.index, str(out / "retrieval.faiss"))
        distinct = list(dict.fromkeys(self.cameras))
        number = {camera: i for i, camera in enumerate(distinct)}
        references = {"names": list(self.reference_names), "cameras": [c.to_dict() for c in distinct],
                      "camera_index": [number[c] for c in self.cameras]}
        (out / "references.json").write_text(json.dumps(references))
        if self.storage.colmap_model:
            self.to_reconstruction().write(str(_mkdir(out / "colmap")))
        whole = [*WHOLE_FILES, *([CODEC_FILE] if codec is not None else [])]
        header = {
            "format_version": FORMAT_VERSION,
            "frame_id": self.frame_id,
            "backbone": self.backbone,
            "fingerprint": self.fingerprint,
            "counts": {"references": self.num_references, "keypoints": int(len(self.keypoints)),
                       "points3D": int(len(self.points3D)), "descriptor_dim": self.descriptor_dim,
                       "global_dim": int(self.pca.dim)},
            "storage": {"descriptors": codec.kind if codec else "float16",
                        "descriptor_pca_dim": codec.pca_dim if codec else 0,
                        **({"pq_subquantizers": codec.code_dim} if codec and codec.kind == "pq" else {}),
                        "descriptor_stored_dim": int(self.descriptors.shape[1]),
                        "retrieval_index": "ivf" if isinstance(self.index, faiss.IndexIVF) else "exact",
                        "checksum_block_bytes": int(block)},
            "metadata": self.metadata,
            "array_bytes": {f"{name}.npy": (out / f"{name}.npy").stat().st_size for name in ARRAYS},
            "checksums": {name: sha256_file(out / name) for name in whole},
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
        """Open a map: the header and small files are read (and verified), the arrays memory-mapped. With
        verify_checksums=False nothing is hashed (sizes are still checked)."""
        path = Path(path)
        header = _read_checked_header(path)
        storage = header["storage"]
        block = storage["checksum_block_bytes"]
        try:
            if verify_checksums:
                for name, expected in header["checksums"].items():
                    if sha256_file(path / name) != expected:
                        raise MapError(f"{path}: {name} is corrupt (checksum mismatch); {REBUILD}")
            digests = np.load(path / "block_checksums.npz", allow_pickle=False)
            mapped = {}
            for name in ARRAYS:
                file = path / f"{name}.npy"
                verifier = LazyBlockVerifier(file, digests[name], block, header["array_bytes"][file.name])
                verifier.check_size()
                mapped[name] = MappedArray(file, verifier if verify_checksums else None)
            pca_file = np.load(path / "pca.npz", allow_pickle=False)
            pca = PcaWhitening(pca_file["mean"], pca_file["projection"])
            codec_file = _codec_file(header)
            codec = DescriptorCodec.from_arrays(np.load(path / codec_file, allow_pickle=False)) if codec_file else None
            references = json.loads((path / "references.json").read_text())
            distinct = [Camera.from_dict(c) for c in references["cameras"]]
            cameras = [distinct[i] for i in references["camera_index"]]
            poses = PoseTable.from_qvec_tvec(np.load(path / "cam_from_world.npy", allow_pickle=False))
            index = faiss.read_index(str(path / "retrieval.faiss"))
            offsets = mapped["offsets"].read()
        except MapError:
            raise
        except (CorruptBlock, OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
            raise MapError(f"{path}: cannot read map data ({e}); the map is corrupt or truncated, {REBUILD}") from e
        if index.ntotal != len(references["names"]):
            raise MapError(f"{path}: retrieval index holds {index.ntotal} images, the map {len(references['names'])}")
        arrays = {name: mapped[name].array for name in ARRAYS}
        stored_as = MapStorageConfig(
            descriptor_dim=codec.pca_dim if codec else 0, descriptor_codec=codec.kind if codec else "float16",
            pq_subquantizers=storage.get("pq_subquantizers", MapStorageConfig.pq_subquantizers),
            checksum_block_bytes=block, colmap_model=(path / "colmap").is_dir())
        sparse_map = cls(frame_id=header["frame_id"], backbone=header["backbone"], fingerprint=header["fingerprint"],
                         reference_names=references["names"], cameras=cameras, cam_from_world=poses, pca=pca,
                         metadata=header.get("metadata") or {}, index=index, descriptor_codec=codec,
                         storage=stored_as, check_values=False, path=path, **{**arrays, "offsets": offsets})
        sparse_map._mapped = {name: mapped[name] for name in ARRAYS if name != "offsets"}
        return sparse_map


@dataclass
class FileCheck:
    name: str
    ok: bool
    detail: str  # size and blocks checked, or what is wrong


def check_map_files(path: str | Path) -> list[FileCheck]:
    """Every file of a map against its recorded checksum (all blocks of the arrays), without stopping at the
    first damage: what `s2dhm verify-map` reports. A map whose header cannot be read gives one failed check."""
    path = Path(path)
    try:
        header = _read_checked_header(path)
    except MapError as e:
        return [FileCheck("map.yaml", False, str(e))]
    checks = []
    for name, expected in header["checksums"].items():
        file = path / name
        if not file.is_file():
            checks.append(FileCheck(name, False, "missing"))
        elif sha256_file(file) != expected:
            checks.append(FileCheck(name, False, "checksum mismatch"))
        else:
            checks.append(FileCheck(name, True, f"{file.stat().st_size} bytes, sha256 ok"))
    if not all(c.ok for c in checks if c.name == "block_checksums.npz"):
        return checks + [FileCheck(f"{name}.npy", False, "not checked: block_checksums.npz is damaged")
                         for name in ARRAYS]
    digests = np.load(path / "block_checksums.npz", allow_pickle=False)
    block = header["storage"]["checksum_block_bytes"]
    for name in ARRAYS:
        file = path / f"{name}.npy"
        try:
            verifier = LazyBlockVerifier(file, digests[name], block, header["array_bytes"][file.name])
            verifier.check_all()
            checks.append(FileCheck(file.name, True, f"{verifier.size} bytes, {len(verifier.digests)} blocks ok"))
        except FileNotFoundError:
            checks.append(FileCheck(file.name, False, "missing"))
        except (CorruptBlock, KeyError) as e:
            checks.append(FileCheck(file.name, False, str(e)))
    return checks


def _read_checked_header(path: Path) -> dict[str, Any]:
    """map.yaml, checked to be a complete header of this format version (MapError otherwise); the files it lists
    exist."""
    header_path = path / "map.yaml"
    if not header_path.is_file():
        raise MapError(f"{path} is not an s2dhm map (no map.yaml); build one with `s2dhm build-map`")
    try:
        header = yaml.safe_load(header_path.read_text())
    except yaml.YAMLError as e:
        raise MapError(f"{header_path} is corrupt ({e}); {REBUILD}") from e
    if not isinstance(header, dict) or "format_version" not in header:
        raise MapError(f"{header_path} has no format_version; it is not an s2dhm map")
    if header["format_version"] != FORMAT_VERSION:
        raise MapError(f"{path} has map format version {header['format_version']}, this s2dhm_ros reads version "
                       f"{FORMAT_VERSION} (memory-mapped arrays, lazily checked): {REBUILD} of this version")
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise MapError(f"{header_path} lacks {missing}; the header is truncated or was not written by "
                       f"s2dhm_ros, {REBUILD}")
    checksums = header["checksums"] if isinstance(header["checksums"], dict) else {}
    sizes = header["array_bytes"] if isinstance(header["array_bytes"], dict) else {}
    storage = header["storage"] if isinstance(header["storage"], dict) else {}
    unchecked = [name for name in WHOLE_FILES if not _is_sha256(checksums.get(name))]
    unchecked += [f"{name}.npy" for name in ARRAYS if not isinstance(sizes.get(f"{name}.npy"), int)]
    if (storage.get("descriptors") != "float16" or storage.get("descriptor_pca_dim")) and not _codec_file(header):
        unchecked.append(CODEC_FILE)
    if unchecked or not isinstance(storage.get("checksum_block_bytes"), int) or storage["checksum_block_bytes"] < 1:
        raise MapError(f"{header_path} has no valid checksum or size for {unchecked or ['its blocks']}; the header is "
                       f"truncated, {REBUILD}")
    for name in [*checksums, *sizes]:
        if not (path / name).is_file():
            raise MapError(f"{path}: file {name} is missing; the map is incomplete, {REBUILD}")
    return header


def _codec_file(header: dict[str, Any]) -> str | None:
    """The map's descriptor codec file with a valid checksum in the header (the legacy name in maps written before
    the codecs), None if it has none."""
    checksums = header["checksums"] if isinstance(header["checksums"], dict) else {}
    return next((name for name in (CODEC_FILE, LEGACY_PCA_FILE) if _is_sha256(checksums.get(name))), None)


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
