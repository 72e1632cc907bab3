"""Retrain VGG16-NetVLAD for retrieval across conditions (the paper's NV-r, Sections 3.2 and 5.2).

Choices, each after the NetVLAD paper (Arandjelovic et al., CVPR 2016), whose loss S2DHM reuses:
- Loss: NetVLAD's weakly supervised triplet ranking loss, which the S2DHM paper calls "the same contrastive loss
  as [2]": for query q, its best positive p* (the positive nearest in descriptor space, from the descriptors of
  this epoch) and each hard negative n_j, `max(0, |q - p*|^2 + margin - |q - n_j|^2)` with margin 0.1 on the
  unit-norm descriptors, averaged over the negatives and the queries.
- Hard-negative mining at every epoch (S2DHM 5.2): the descriptors of all training images are recomputed at the
  start of each epoch and each query keeps its `num_negatives` nearest negatives.
- Trained layers: conv5_1 .. conv5_3 and the NetVLAD layer (NetVLAD paper: training down to conv5 is the best
  trade-off); earlier layers are frozen, so their output is computed once and cached (float16, h * w * 512 * 2
  bytes per image: 0.75 MB at 512 x 384), and an epoch runs only the trained layers.
- Images are shrunk to at most `image_size` px (512 in the paper), with the same resizing and normalisation as
  `VGGHypercolumnExtractor`, so the saved weights give the localizer the descriptors they were trained for.
- From a random initialisation (no --init), the NetVLAD centroids start from k-means of conv5_3 features of the
  training images, as NetVLAD's cluster initialisation does.
Checkpoints use the official S2DHM layout (`{'state_dict': encoder.<i>.*, pool.conv.weight, pool.centroids}`),
written atomically after every epoch.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..features.base import pick_device, resize_max
from ..features.netvlad import VGG16NetVLAD
from ..features.vgg16 import CONV_INDICES, IMAGENET_MEAN_255, IMAGENET_STD_255, preprocess
from ..frames import Frame
from .tuples import TupleConfig, make_tuples

log = logging.getLogger(__name__)

CONV_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class TrainingConfig:
    epochs: int = 10
    image_size: int = 512  # paper: images rescaled to at most 512 px when retraining
    trainable_from: str = "conv5_1"  # first trained conv layer; the ones before it are frozen
    learning_rate: float = 1e-4  # Adam
    margin: float = 0.1  # NetVLAD's m, on squared distances of unit vectors
    num_negatives: int = 10  # hardest negatives per query and epoch (NetVLAD: 10)
    batch_size: int = 4  # queries per optimiser step
    queries_per_epoch: int | None = None  # None: every query with a positive and a negative
    recall_distance_m: float = 5.0  # held-out query correctly retrieved: top-1 reference this close
    device: str = "auto"
    seed: int = 0
    tuples: TupleConfig = field(default_factory=TupleConfig)


@dataclass
class TrainingReport:
    losses: list[float]  # mean loss of each epoch
    recall_before: float | None  # recall@1 of the held-out queries (None without held-out queries)
    recall_after: float | None
    num_training_images: int
    num_queries: int  # training queries with at least one positive and one negative
    num_held_out: int
    seconds: float

    def summary(self) -> str:
        losses = ", ".join(f"{x:.4f}" for x in self.losses)
        text = (f"{self.num_training_images} training images, {self.num_queries} queries; "
                f"loss per epoch: {losses}")
        if self.recall_before is not None:
            text += (f"; recall@1 of {self.num_held_out} held-out queries: {self.recall_before:.3f} before, "
                     f"{self.recall_after:.3f} after")
        return text + f" ({self.seconds:.1f} s)"


def _first_trained_module(name: str) -> int:
    if name not in CONV_NAMES:
        raise ValueError(f"trainable_from must be one of {', '.join(CONV_NAMES)}, got {name!r}")
    return CONV_INDICES[CONV_NAMES.index(name)]


def seeded_model(seed: int = 0) -> VGG16NetVLAD:
    """A randomly initialised VGG16-NetVLAD to train from scratch, with torchvision's VGG initialisation
    (Kaiming-normal fan-out weights, zero biases). PyTorch's default conv initialisation shrinks the signal
    layer after layer, so that conv5_3 of a 13-layer VGG is nearly its bias everywhere and every image gets
    the same descriptor."""
    torch.manual_seed(seed)
    model = VGG16NetVLAD()
    for module in model.encoder:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
    return model.eval()


def to_imagenet_normalisation(model: VGG16NetVLAD) -> VGG16NetVLAD:
    """Make a model usable in the S2DHM layout: no whitening, ImageNet input normalisation.

    Pitts30k weights expect `rgb - average` (std 1); their conv1_1 is rewritten to take `(rgb - mean) / std`
    instead (w' = w * std, b' = b + sum w * (mean - average)), exact except at the zero-padded border.
    """
    if model.whitening is not None:
        log.warning("dropping the learned whitening: S2DHM checkpoints have none (retrieval PCA is fitted per map)")
        model.whitening = None
    mean, std = torch.tensor(IMAGENET_MEAN_255), torch.tensor(IMAGENET_STD_255)
    if not (torch.allclose(model.mean, mean) and torch.allclose(model.std, std)):
        conv = model.encoder[0]
        with torch.no_grad():
            w = conv.weight / model.std[None, :, None, None]  # the model's own scaling
            conv.bias += (w * (mean - model.mean)[None, :, None, None]).sum((1, 2, 3))
            conv.weight.copy_(w * std[None, :, None, None])
        model.mean, model.std = mean, std
    return model


def s2dhm_state_dict(model: VGG16NetVLAD) -> dict[str, torch.Tensor]:
    """The keys `load_s2dhm_checkpoint` expects: encoder.<i>.weight/bias, pool.conv.weight, pool.centroids."""
    return {f"encoder.{k}": v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()} | \
        {f"pool.{k}": v.detach().cpu().clone() for k, v in model.pool.state_dict().items()}


def save_checkpoint(model: VGG16NetVLAD, path: str | Path, **info: float | int | list[float] | None) -> Path:
    """Write `{'state_dict': ..., **info}` to a temporary sibling, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(tmp, "wb") as f:
        torch.save({"state_dict": s2dhm_state_dict(model), **info}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


class FrozenFeatures:
    """The frozen layers' output for every frame, computed once: list of (1, C, h, w) float16 tensors."""

    def __init__(self, model: VGG16NetVLAD, frames: list[Frame], image_size: int, first_trained: int,
                 device: torch.device, progress: Progress | None = None, stage: str = "frozen layers"):
        self.maps: list[torch.Tensor] = []
        with torch.no_grad():
            for i, frame in enumerate(frames):
                image, _ = resize_max(frame.load(), image_size)
                if min(image.shape[:2]) < 32:
                    raise ValueError(f"image {frame.name} shrunk to {image.shape[1]}x{image.shape[0]} px is too "
                                     "small for VGG16 (image_size too small?)")
                x = preprocess(torch.from_numpy(np.ascontiguousarray(image)).to(device), model.mean, model.std)
                self.maps.append(model.encoder[:first_trained](x).to(torch.float16).cpu())
                if progress is not None:
                    progress(stage, i + 1, len(frames))

    def batches(self, indices: list[int], size: int) -> list[list[int]]:
        """Runs of at most `size` indices whose maps have the same shape (one batched forward each)."""
        out: list[list[int]] = []
        for i in indices:
            if out and len(out[-1]) < size and self.maps[out[-1][0]].shape == self.maps[i].shape:
                out[-1].append(i)
            else:
                out.append([i])
        return out


def descriptors(model: VGG16NetVLAD, cache: FrozenFeatures, indices: list[int], first_trained: int,
                device: torch.device, chunk: int = 16) -> torch.Tensor:
    """(len(indices), K * D) global descriptors through the trained layers (with autograd when enabled)."""
    out = []
    for run in cache.batches(indices, chunk):
        x = torch.cat([cache.maps[i] for i in run]).to(device, torch.float32)
        out.append(model.global_descriptor(model.encoder[first_trained:](x)))
    return torch.cat(out)


def init_clusters(model: VGG16NetVLAD, cache: FrozenFeatures, first_trained: int, device: torch.device,
                  seed: int, samples_per_image: int = 100) -> None:
    """NetVLAD's cluster initialisation: centroids = k-means of L2-normalised conv5_3 features; assignment
    weights = alpha * unit centroids, alpha so that the two nearest centroids' scores differ by log(100)."""
    import faiss

    rng = np.random.default_rng(seed)
    samples = []
    with torch.no_grad():
        for i in range(len(cache.maps)):
            x = cache.maps[i].to(device, torch.float32)
            feats = F.normalize(model.encoder[first_trained:](x), dim=1)[0].flatten(1).T.cpu().numpy()  # (h*w, D)
            samples.append(feats[rng.choice(len(feats), min(samples_per_image, len(feats)), replace=False)])
    data = np.ascontiguousarray(np.concatenate(samples), dtype=np.float32)
    k = model.pool.num_clusters
    if len(data) < k:
        raise ValueError(f"{len(data)} conv5_3 features are too few to initialise {k} NetVLAD clusters")
    kmeans = faiss.Kmeans(data.shape[1], k, niter=20, seed=seed, verbose=False)
    kmeans.train(data)
    centroids = torch.from_numpy(kmeans.centroids.copy())
    unit = F.normalize(centroids, dim=1)
    scores = torch.from_numpy(data[:1000]) @ unit.T
    top2 = scores.topk(2, dim=1).values
    alpha = -np.log(0.01) / float((top2[:, 0] - top2[:, 1]).mean().clamp_min(1e-6))
    with torch.no_grad():
        model.pool.centroids.copy_(centroids)
        model.pool.conv.weight.copy_((alpha * unit)[:, :, None, None])


def recall_at_1(query_descriptors: torch.Tensor, reference_descriptors: torch.Tensor, query_frames: list[Frame],
                reference_frames: list[Frame], distance_m: float) -> float:
    """Fraction of queries whose nearest reference (dot product of unit descriptors) is within `distance_m`."""
    top1 = (query_descriptors @ reference_descriptors.T).argmax(dim=1).tolist()
    hits = [np.linalg.norm(q.cam_from_world.center - reference_frames[j].cam_from_world.center) <= distance_m
            for q, j in zip(query_frames, top1)]
    return float(np.mean(hits))


def _triplet_loss(d: torch.Tensor, anchors: list[tuple[int, int, list[int]]], margin: float) -> torch.Tensor:
    """Mean over queries and negatives of max(0, |q - p|^2 + margin - |q - n|^2); `d` rows are unit vectors."""
    losses = []
    for q, p, negatives in anchors:
        pos = (d[q] - d[p]).pow(2).sum()
        neg = (d[q][None] - d[negatives]).pow(2).sum(dim=1)
        losses.append(F.relu(pos + margin - neg).mean())
    return torch.stack(losses).mean()


def train_netvlad(model: VGG16NetVLAD, frames: list[Frame], config: TrainingConfig, out: str | Path,
                  held_out: list[Frame] | None = None, references: list[int] | None = None,
                  cluster_init: bool = False, progress: Progress | None = None) -> TrainingReport:
    """Train `model` in place on posed `frames` (queries and database at once) and save it to `out` each epoch.

    `held_out`: posed query frames (e.g. another traversal, other conditions) retrieved before and after
    training, for the recall@1 in the report, among `frames[i] for i in references` (default: all `frames`;
    give the reference traversal's so that held-out queries do not find training images of their own
    condition). `cluster_init`: start the NetVLAD layer from k-means (for a randomly initialised model, not
    for pretrained weights).
    """
    start = time.perf_counter()
    if config.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {config.epochs}")
    missing = [f.name for f in [*frames, *(held_out or [])] if f.cam_from_world is None]
    if missing:
        raise ValueError(f"{len(missing)} frames have no pose (e.g. {missing[0]}); training needs posed images")
    device = pick_device(config.device)
    first = _first_trained_module(config.trainable_from)
    model = to_imagenet_normalisation(model).to(device).eval()
    poses = [f.cam_from_world for f in frames]
    tuples = make_tuples(poses, poses, config.tuples, same_set=True)
    queries = tuples.usable()
    if len(queries) == 0:
        raise ValueError(f"none of the {len(frames)} training images has both a positive (within "
                         f"{config.tuples.positive_distance_m} m) and a negative (beyond "
                         f"{config.tuples.negative_distance_m} m): the trajectory is too short for these distances")
    for i, module in enumerate(model.encoder):
        module.requires_grad_(i >= first)
    cache = FrozenFeatures(model, frames, config.image_size, first, device, progress, "training images")
    held = FrozenFeatures(model, held_out, config.image_size, first, device, progress, "held-out images") \
        if held_out else None
    if cluster_init:
        init_clusters(model, cache, first, device, config.seed)

    reference_ids = list(range(len(frames))) if references is None else list(references)

    def evaluate() -> float | None:
        if held is None:
            return None
        with torch.no_grad():
            return recall_at_1(descriptors(model, held, list(range(len(held.maps))), first, device),
                               descriptors(model, cache, reference_ids, first, device),
                               held_out, [frames[i] for i in reference_ids], config.recall_distance_m)

    recall_before = evaluate()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    losses = []
    for epoch in range(config.epochs):
        with torch.no_grad():  # hard-negative mining on this epoch's descriptors
            all_d = descriptors(model, cache, list(range(len(frames))), first, device).cpu()
        order = rng.permutation(queries)[:config.queries_per_epoch]
        anchors = []
        for q in order.tolist():
            dist = (all_d[q][None] - all_d).pow(2).sum(dim=1)
            p = int(tuples.positives[q][dist[tuples.positives[q]].argmin()])
            negs = tuples.negatives[q][dist[tuples.negatives[q]].argsort()[:config.num_negatives].numpy()]
            anchors.append((q, p, negs.tolist()))
        epoch_losses = []
        for b in range(0, len(anchors), config.batch_size):
            batch = anchors[b:b + config.batch_size]
            used = sorted({i for q, p, negs in batch for i in (q, p, *negs)})
            row = {img: r for r, img in enumerate(used)}
            d = descriptors(model, cache, used, first, device)
            loss = _triplet_loss(d, [(row[q], row[p], [row[n] for n in negs]) for q, p, negs in batch],
                                 config.margin)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_losses.append(float(loss.detach()))
            if progress is not None:
                progress(f"epoch {epoch + 1}/{config.epochs}", min(b + config.batch_size, len(anchors)),
                         len(anchors))
        losses.append(float(np.mean(epoch_losses)))
        log.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, losses[-1])
        save_checkpoint(model, out, epoch=epoch + 1, losses=losses)
    recall_after = evaluate()
    if recall_after is not None:
        save_checkpoint(model, out, epoch=config.epochs, losses=losses, recall_before=recall_before,
                        recall_after=recall_after)
    return TrainingReport(losses, recall_before, recall_after, len(frames), len(queries),
                          len(held_out or []), time.perf_counter() - start)
