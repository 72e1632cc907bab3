"""The published checkpoints the pipeline can load, where they are downloaded from, and a download that is
verified before it is installed (temporary file, sha256, atomic rename).

URLs were read from the code that uses these files: germain-hug/S2DHM (run configs load
`checkpoints/{robotcar,cmu}/weights.pth.tar` from the repository), cvg/Hierarchical-Localization
hloc/extractors/netvlad.py (Pitts30K_struct.mat) and magicleap/SuperPointPretrainedNetwork (superpoint_v1.pth).
superpoint_v1.pth has a sha256 that many independent users of the file publish and agree on (pinned below). The
sums of the other files were NOT available to us when this table was written (no network in the build
environment), so their `sha256` is None: the first verified install records the sum next to the file
(`<file>.sha256`) and prints it so it can be compared with a trusted copy, and later installs into the same
folder must match it, unless an expected sum is given explicitly (`--sha256`), which overrides the record;
every verified install rewrites the record with the sum of the file it installed. The sizes are the ones the
layer shapes imply (float32 weights), a sanity bound rather than an exact byte count.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .io.atomic import write_text_atomic
from .io.checksum import sha256_file

DEFAULT_DIR = Path(os.environ.get("S2DHM_WEIGHTS_DIR", Path.home() / ".cache" / "s2dhm_ros" / "weights"))


@dataclass(frozen=True)
class Checkpoint:
    key: str
    filename: str
    url: str
    sha256: str | None  # None: unknown when the table was written (see the module docstring)
    approx_mb: float  # expected size implied by the layer shapes
    kind: str  # "torch" or "mat": what the file must start like
    description: str


CHECKPOINTS = {c.key: c for c in [
    Checkpoint("s2dhm-robotcar", "s2dhm_robotcar_weights.pth.tar",
               "https://github.com/germain-hug/S2DHM/raw/master/checkpoints/robotcar/weights.pth.tar",
               None, 59.0, "torch", "S2DHM VGG16-NetVLAD retrained on RobotCar (the paper's NV-r)"),
    Checkpoint("s2dhm-cmu", "s2dhm_cmu_weights.pth.tar",
               "https://github.com/germain-hug/S2DHM/raw/master/checkpoints/cmu/weights.pth.tar",
               None, 59.0, "torch", "S2DHM VGG16-NetVLAD retrained on Extended CMU Seasons"),
    Checkpoint("netvlad-pitts30k", "Pitts30K_struct.mat",
               "https://cvg-data.inf.ethz.ch/hloc/netvlad/Pitts30K_struct.mat",
               None, 596.0, "mat", "VGG16-NetVLAD trained on Pittsburgh30k with 4096-d whitening (the paper's NV)"),
    Checkpoint("superpoint", "superpoint_v1.pth",
               "https://github.com/magicleap/SuperPointPretrainedNetwork/raw/master/superpoint_v1.pth",
               "52b6708629640ca883673b5d5c097c4ddad37d8048b33f09c8ca0d69db12c40e", 5.2, "torch",
               "SuperPoint detector (MagicLeap), for map keypoints"),
]}


class DownloadError(RuntimeError):
    pass


def commands(checkpoint: Checkpoint, dest_dir: Path) -> str:
    """Shell commands doing the download by hand (for a machine with network, or to check the sum yourself)."""
    target = dest_dir / checkpoint.filename
    return (f"mkdir -p {dest_dir}\ncurl -L --fail -o {target}.partial {checkpoint.url} && "
            f"mv {target}.partial {target}\n"
            + (f"echo '{checkpoint.sha256}  {target}' | sha256sum -c -" if checkpoint.sha256
               else f"sha256sum {target}"))


def _check_content(path: Path, checkpoint: Checkpoint) -> None:
    """Catch the usual wrong downloads (an HTML error page, a Git LFS pointer) before they reach a loader."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"version https://git-lfs"):
        raise DownloadError(f"{path} is a Git LFS pointer, not the weights: download the LFS object instead")
    valid = {"mat": (b"MATLAB",), "torch": (b"PK\x03\x04", b"\x80")}[checkpoint.kind]
    if not head.startswith(valid):
        raise DownloadError(f"{path} does not look like a {checkpoint.kind} weights file "
                            f"(starts with {head[:16]!r}; an HTML error page?)")


def install(source: str | Path, checkpoint: Checkpoint, dest_dir: str | Path = DEFAULT_DIR,
            expected_sha256: str | None = None, move: bool = False) -> Path:
    """Verify `source` (content type, sha256 against `expected_sha256`, the table, or the sum recorded by an
    earlier install) and copy it (`move`: rename it, for a temporary download on the same file system)
    atomically to `dest_dir/<filename>`; returns the installed path."""
    source, dest_dir = Path(source), Path(dest_dir)
    if not source.is_file():
        raise DownloadError(f"{source} does not exist")
    _check_content(source, checkpoint)
    target = dest_dir / checkpoint.filename
    record = target.with_name(target.name + ".sha256")
    expected = expected_sha256 or checkpoint.sha256 or (record.read_text().split()[0] if record.is_file() else None)
    actual = sha256_file(source)
    if expected is not None and actual != expected.lower():
        raise DownloadError(f"checksum mismatch for {checkpoint.key}: {source} has sha256 {actual}, expected "
                            f"{expected}; the file is corrupt, truncated or not the published one")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    if move:
        os.replace(source, target)
    elif source.resolve() != target.resolve():
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    # Always (re)write the record: it must name the file now installed. After an install verified against
    # --sha256 (which overrides an earlier record), keeping the old record would print and later enforce the
    # previous file's sum.
    write_text_atomic(record, f"{actual}  {checkpoint.filename}\n")
    return target


def download(checkpoint: Checkpoint, dest_dir: str | Path = DEFAULT_DIR, url: str | None = None,
             expected_sha256: str | None = None, timeout_s: float = 60.0) -> Path:
    """Fetch to a temporary file next to the target, then `install` it; a network failure raises a
    DownloadError that names the URL and the offline route (`--from-file`)."""
    url = url or checkpoint.url
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".{checkpoint.filename}.{os.getpid()}.download"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
        return install(tmp, checkpoint, dest_dir, expected_sha256, move=True)
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(
            f"cannot download {checkpoint.key} from {url}: {getattr(e, 'reason', e)}. Without network here, "
            f"download it on another machine (`s2dhm download-weights {checkpoint.key} --print` shows how), copy "
            f"it over and run `s2dhm download-weights {checkpoint.key} --from-file PATH`, which verifies and "
            "installs it") from e
    finally:
        tmp.unlink(missing_ok=True)
