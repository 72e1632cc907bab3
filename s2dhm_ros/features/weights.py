"""Loaders for the published VGG16-NetVLAD weights, strict about layout and loud about what is wrong.

Two layouts are read (checked against the public code with the project's code search):

(a) The official S2DHM checkpoint `weights.pth.tar` (germain-hug/S2DHM s2dhm/network/network.py loads
    it with `torch.load(path)['state_dict']` into `nn.Module(encoder=vgg16.features[:-2], pool=NetVLAD)`,
    with or without DataParallel's `.module`): keys `encoder[.module].<i>.weight/bias` for the conv
    indices 0..28 and `pool[.module].conv.weight` (64, 512, 1, 1, no bias), `pool[.module].centroids`
    (64, 512). Read with `weights_only=True`: tensors and plain containers only, no pickled code.

(b) The Pittsburgh30k NetVLAD MATLAB model as hloc reads it (`Pitts30K_struct.mat`; cvg/Hierarchical-
    Localization hloc/extractors/netvlad.py, exported by uzh-rpg/netvlad_tf_open matlab/net_class2struct.m),
    `loadmat(struct_as_record=False, squeeze_me=True)['net']`:
      - `layers[i].weights = [w (3, 3, IN, OUT), b (OUT,)]` for the conv layers, same indices as torchvision;
      - `layers[30]` (vlad:core): `weights = [assignment (D, K), -centroids (D, K)]` (MATLAB stores the
        centres negated: residual = x + c);
      - `layers[33]` (WPCA): `weights = [w (1, 1, K*D, 4096) squeezed to (K*D, 4096), b (4096,)]`, whose
        input is the VLAD vector flattened dimension-major (index d * K + k), as MATLAB and hloc do;
      - `meta.normalization.averageImage`: the RGB mean (0..255) at `[0, 0]`; the std is 1.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .netvlad import VGG16NetVLAD
from .vgg16 import CONV_INDICES

DOWNLOAD_HINT = "get the published weights with `s2dhm download-weights`"
PITTS_VLAD_LAYER, PITTS_WPCA_LAYER = 30, 33


def _numpy_data_globals() -> list:
    """NumPy scalars and numeric dtypes, which training loops store next to the weights (e.g. a
    `best_score` np.float64, as pytorch-NetVLAD's does); allowed so `weights_only=True` can read them.
    They rebuild plain numbers, never code. Old pickles name the scalar `numpy.core.multiarray.scalar`."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import scalar
    dtypes = {type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]}
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"),
            np.dtype, *sorted(dtypes, key=lambda t: t.__name__)]



def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist ({DOWNLOAD_HINT})")
    return path


def read_torch_file(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` on CPU; any failure becomes a ValueError naming the file."""
    path = _existing(path)
    try:
        with torch.serialization.safe_globals(_numpy_data_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled code: all "not a usable checkpoint"
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or wrong file?): "
                         f"{type(e).__name__}: {_gist(e)}") from e


def _gist(error: Exception) -> str:
    """The informative line of torch.load's (often multi-paragraph) message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next((line for line in lines if "Unsupported global" in line), lines[0] if lines else "")


def _names(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_state_dict(expected: Mapping[str, torch.Tensor], got: Mapping[str, Any], source: str,
                     what: str) -> None:
    """Raise a ValueError naming every missing, unexpected and shape-mismatched key of `got`."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    mismatched = [f"{k}: {tuple(got[k].shape) if isinstance(got[k], torch.Tensor) else type(got[k]).__name__}"
                  f" instead of {tuple(expected[k].shape)}"
                  for k in sorted(set(expected) & set(got))
                  if not isinstance(got[k], torch.Tensor) or got[k].shape != expected[k].shape]
    problems = [f"{label} [{_names(keys)}]" for label, keys in
                (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
                if keys]
    if problems:
        raise ValueError(f"{source} is not a {what} checkpoint: " + "; ".join(problems))


def load_s2dhm_checkpoint(path: str | Path) -> VGG16NetVLAD:
    """Official S2DHM `weights.pth.tar` -> VGG16NetVLAD (ImageNet input normalisation, no whitening)."""
    obj = read_torch_file(path)
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict with a 'state_dict'")
    state = {k.replace("encoder.module.", "encoder.").replace("pool.module.", "pool."): v
             for k, v in state.items()}
    model = VGG16NetVLAD()
    check_state_dict(model.state_dict(), state, str(path), "S2DHM VGG16-NetVLAD")
    model.load_state_dict(state)
    return model.eval()


def _mat_weights(layers: Any, index: int, path: Path) -> list[np.ndarray]:
    try:
        weights = layers[index].weights
        return [np.asarray(weights[0], dtype=np.float32), np.asarray(weights[1], dtype=np.float32)]
    except (AttributeError, IndexError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: layer {index} of net.layers has no [weights, bias] pair "
                         f"(not the Pitts30K_struct.mat layout): {e}") from e


def _pitts_state_dict(layers: Any, path: Path) -> dict[str, torch.Tensor]:
    """net.layers of the MATLAB struct -> VGG16NetVLAD state dict (cluster-major whitening input)."""
    state: dict[str, torch.Tensor] = {}
    for i in CONV_INDICES:
        w, b = _mat_weights(layers, i, path)
        if w.ndim != 4:
            raise ValueError(f"{path}: layer {i} conv weights have shape {w.shape}, expected (3, 3, IN, OUT)")
        state[f"encoder.{i}.weight"] = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()
        state[f"encoder.{i}.bias"] = torch.from_numpy(b.reshape(-1))
    assignment, neg_centroids = _mat_weights(layers, PITTS_VLAD_LAYER, path)  # (D, K) each
    state["pool.conv.weight"] = torch.from_numpy(assignment.T.copy())[:, :, None, None]
    state["pool.centroids"] = torch.from_numpy(-neg_centroids.T)
    w, b = _mat_weights(layers, PITTS_WPCA_LAYER, path)
    w = w.reshape(-1, w.shape[-1]).T  # (OUT, K*D), input dimension-major: column d * K + k
    k, d = state["pool.centroids"].shape
    if w.shape[1] == k * d:
        w = w.reshape(-1, d, k).transpose(0, 2, 1).reshape(-1, k * d)  # -> cluster-major: column k * D + d
    state["whitening.weight"] = torch.from_numpy(np.ascontiguousarray(w))
    state["whitening.bias"] = torch.from_numpy(b.reshape(-1))
    return state


def load_pitts30k_mat(path: str | Path) -> VGG16NetVLAD:
    """Pitts30K_struct.mat (as hloc reads it) -> VGG16NetVLAD with its learned whitening."""
    from scipy.io import loadmat

    path = _existing(path)
    try:
        net = loadmat(path, struct_as_record=False, squeeze_me=True)["net"]
        layers, average = net.layers, net.meta.normalization.averageImage
    except Exception as e:  # truncated file, not a MAT file, other struct layout
        raise ValueError(f"{path} is not a readable Pitts30K_struct.mat (truncated or wrong file?): "
                         f"{type(e).__name__}: {e}") from e
    state = _pitts_state_dict(layers, path)
    model = VGG16NetVLAD(whitening_dim=int(state["whitening.bias"].numel()))
    check_state_dict(model.state_dict(), state, str(path), "Pitts30k VGG16-NetVLAD")
    model.load_state_dict(state)
    # averageImage is an H x W x 3 image (hloc takes [0, 0]) or a plain RGB triple.
    model.mean = torch.from_numpy(np.asarray(average, dtype=np.float32).reshape(-1, 3)[0].copy())
    model.std = torch.ones(3)
    return model.eval()


def is_mat_file(path: str | Path) -> bool:
    """MATLAB v5 files start with the text 'MATLAB'."""
    with open(_existing(path), "rb") as f:
        return f.read(6) == b"MATLAB"


def load_vgg16_netvlad(path: str | Path) -> VGG16NetVLAD:
    """Either layout, told apart by the file's header."""
    return load_pitts30k_mat(path) if is_mat_file(path) else load_s2dhm_checkpoint(path)
