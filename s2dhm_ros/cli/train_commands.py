"""`s2dhm train-netvlad`: retrain the VGG16-NetVLAD retrieval backbone on posed images (the paper's NV-r)."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..features.weights import load_vgg16_netvlad
from ..frames import Frame
from ..io.bag_source import BagSourceConfig, frames_from_bag
from ..io.posed_images import read_posed_images
from ..training.netvlad_training import CONV_NAMES, TrainingConfig, seeded_model, train_netvlad
from ..training.tuples import TupleConfig
from .options import add_dataclass_options, dataclass_from_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-netvlad", help="retrain VGG16-NetVLAD for retrieval on posed images or a rosbag2",
        description="Retrain conv5 and the NetVLAD layer (earlier layers frozen) with NetVLAD's triplet ranking "
                    "loss and hard-negative mining at every epoch. Positives: references within --positive-"
                    "distance-m and --positive-angle-deg of a query; negatives: beyond --negative-distance-m. "
                    "Writes an S2DHM-layout checkpoint (atomically, after every epoch) that the localizer loads "
                    "with `features.backbone: vgg16, features.weights: <file>`. Give one source: --bag, or "
                    "--images with --poses and --intrinsics; --held-out-* give queries (e.g. another condition) "
                    "whose recall@1 among the images of the first --bag (or --images) is reported before and "
                    "after training.")
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write (e.g. weights.pth.tar)")
    p.add_argument("--init", type=Path, help="starting weights: S2DHM weights.pth.tar or Pitts30K_struct.mat "
                                             "(default: seeded random initialisation, for tests only)")
    p.add_argument("--seed", type=int, default=0, help="random initialisation and query order (default: 0)")
    p.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    p.add_argument("--image-size", type=int, default=TrainingConfig.image_size, help="longer side, px")
    p.add_argument("--trainable-from", default=TrainingConfig.trainable_from, choices=CONV_NAMES,
                   help="first trained conv layer (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=TrainingConfig.learning_rate)
    p.add_argument("--margin", type=float, default=TrainingConfig.margin)
    p.add_argument("--num-negatives", type=int, default=TrainingConfig.num_negatives)
    p.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size, help="queries per step")
    p.add_argument("--queries-per-epoch", type=int, default=None, help="default: all")
    p.add_argument("--recall-distance-m", type=float, default=TrainingConfig.recall_distance_m)
    p.add_argument("--device", default=TrainingConfig.device, help="auto, cpu, cuda, cuda:1, ...")
    add_dataclass_options(p.add_argument_group("tuples"), TupleConfig)
    source = p.add_argument_group("posed images")
    source.add_argument("--images", type=Path, help="image folder")
    source.add_argument("--poses", type=Path, help="'NAME QW QX QY QZ TX TY TZ' per line (cam_from_world)")
    source.add_argument("--intrinsics", type=Path, help="'[NAME] MODEL W H PARAMS...' per line")
    source.add_argument("--held-out-images", type=Path, help="held-out query images")
    source.add_argument("--held-out-poses", type=Path)
    source.add_argument("--held-out-intrinsics", type=Path)
    bag = p.add_argument_group("rosbag2 (the held-out bag is read with the same options)")
    bag.add_argument("--bag", type=Path, action="append",
                     help="bag to train on; repeat it for more traversals (conditions) in the same map frame")
    bag.add_argument("--held-out-bag", type=Path, help="bag of held-out queries")
    add_dataclass_options(bag, BagSourceConfig)
    p.set_defaults(func=run)


def _read_frames(args: argparse.Namespace, held_out: bool) -> list[list[Frame]]:
    """The frames of each source (one list per bag)."""
    prefix = "held_out_" if held_out else ""
    bags, images = getattr(args, f"{prefix}bag"), getattr(args, f"{prefix}images")
    if bags and images is not None:
        raise ValueError(f"give either --{prefix.replace('_', '-')}bag or --{prefix.replace('_', '-')}images")
    if bags:
        sources = []
        for bag in bags if isinstance(bags, list) else [bags]:
            frames, stats = frames_from_bag(bag, dataclass_from_options(BagSourceConfig, args))
            print(f"{bag}: {stats.summary()}")
            sources.append(frames)
        return sources
    if images is not None:
        poses, intrinsics = getattr(args, f"{prefix}poses"), getattr(args, f"{prefix}intrinsics")
        if poses is None or intrinsics is None:
            raise ValueError(f"--{prefix.replace('_', '-')}images needs --{prefix.replace('_', '-')}poses and "
                             f"--{prefix.replace('_', '-')}intrinsics")
        return [read_posed_images(images, poses, intrinsics)]
    if held_out:
        return []
    raise ValueError("give a source: --bag, or --images with --poses and --intrinsics")


def run(args: argparse.Namespace) -> int:
    config = TrainingConfig(
        epochs=args.epochs, image_size=args.image_size, trainable_from=args.trainable_from,
        learning_rate=args.learning_rate, margin=args.margin, num_negatives=args.num_negatives,
        batch_size=args.batch_size, queries_per_epoch=args.queries_per_epoch,
        recall_distance_m=args.recall_distance_m, device=args.device, seed=args.seed,
        tuples=dataclass_from_options(TupleConfig, args))
    sources = _read_frames(args, held_out=False)
    frames = [frame for source in sources for frame in source]
    held_out = [frame for source in _read_frames(args, held_out=True) for frame in source]
    model = load_vgg16_netvlad(args.init) if args.init else seeded_model(args.seed)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(desc=stage, total=total, unit="img" if "images" in stage else "query")
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    report = train_netvlad(model, frames, config, args.out, held_out=held_out or None,
                           references=list(range(len(sources[0]))), cluster_init=args.init is None,
                           progress=progress)
    print(report.summary())
    print(f"checkpoint written to {args.out}")
    return 0
