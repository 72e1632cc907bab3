"""`s2dhm benchmark robotcar-seasons|cmu-seasons` (localize a published benchmark, write the submission file and a
recall table) and `s2dhm download-weights` (fetch and verify the published checkpoints)."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..config import LocalizerConfig, MapBuilderConfig, load_config
from ..evaluation.benchmark import Localize, localize_split, pose_counts, recall_report, write_outputs
from ..evaluation.datasets import BenchmarkSplit, read_cmu_seasons, read_robotcar_seasons
from ..evaluation.datasets.robotcar_seasons import CONDITIONS as ROBOTCAR_CONDITIONS
from ..evaluation.datasets.robotcar_seasons import SPLITS as ROBOTCAR_SPLITS
from ..geometry import Pose
from ..weights_download import CHECKPOINTS, DEFAULT_DIR, commands, download, install
from .map_open_command import add_map_open_parser
from .map_build_benchmark_command import add_map_build_parser
from .speed_command import add_speed_parser

# The paper's per-dataset settings (Sec. 5.1): N retrieved references and the ratio-test fraction f.
PAPER_SETTINGS = {"robotcar-seasons": {"num_references": 15, "ratio_fraction": 0.006},
                  "cmu-seasons": {"num_references": 10, "ratio_fraction": 0.12}}


def register(subparsers) -> None:
    bench = subparsers.add_parser(
        "benchmark", help="localize RobotCar Seasons or Extended CMU Seasons and write a submission file",
        description="Read a benchmark in its published layout, build (or reuse) the map of its reference images, "
                    "localize every query and write <benchmark>_submission.txt (visuallocalization.net format), "
                    "results.json and, where ground truth is available, recall.md by condition.")
    sub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    robotcar = sub.add_parser("robotcar-seasons", help="RobotCar Seasons (rear camera; N=15, f=0.006)")
    robotcar.add_argument("--conditions", nargs="+", default=list(ROBOTCAR_CONDITIONS), choices=ROBOTCAR_CONDITIONS,
                          metavar="CONDITION",
                          help=f"query conditions (default: all: {', '.join(ROBOTCAR_CONDITIONS)})")
    robotcar.add_argument("--groundtruth", type=Path,
                          help="query ground truth in the submission format (default: robotcar_v2_train.txt "
                               "under the dataset root, when present)")
    robotcar.add_argument("--split", choices=ROBOTCAR_SPLITS, default="test",
                          help="test (default): the queries of robotcar_v2_test.txt when the dataset has it (v2; "
                               "submission names as listed there), else every query image (v1); train: the v2 "
                               "training queries (ground truth in robotcar_v2_train.txt: a local recall table); "
                               "all: every query image")
    cmu = sub.add_parser("cmu-seasons", help="Extended CMU Seasons (one map per slice; N=10, f=0.12)")
    cmu.add_argument("--slices", nargs="+", type=int, help="slice numbers (default: every slice<N> folder)")
    for p in (robotcar, cmu):
        p.add_argument("--dataset", required=True, type=Path, help="dataset root (as published)")
        p.add_argument("--out", required=True, type=Path, help="output folder")
        p.add_argument("--weights", help="VGG16-NetVLAD weights (S2DHM weights.pth.tar or Pitts30K_struct.mat); "
                                         "selects the vgg16 backbone")
        p.add_argument("--map", type=Path, help="map folder to reuse, or to build if absent (CMU: one sub-folder "
                                                "per slice); default <out>/maps")
        p.add_argument("--config", type=Path, help="LocalizerConfig YAML (e.g. config/localizer.yaml)")
        p.add_argument("--builder-config", type=Path, help="MapBuilderConfig YAML (e.g. config/map_builder.yaml)")
        p.add_argument("--num-references", type=int, help="N (default: the paper's value for this benchmark)")
        p.add_argument("--ratio-fraction", type=float, help="f (default: the paper's value for this benchmark)")
        p.add_argument("--fallback-to-retrieval", action=argparse.BooleanOptionalAction, default=True,
                       help="when PnP fails, submit the pose of the query's top-1 retrieved reference (default: on, "
                            "as the official S2DHM code and hloc do, so recalls compare with the published ones; "
                            "the benchmark counts an absent query as a failure, so this only adds recall). "
                            "results.json tells PnP poses from retrieval ones; --no-fallback-to-retrieval "
                            "submits PnP poses only")
        p.set_defaults(func=run_benchmark)
    add_speed_parser(sub)
    add_map_open_parser(sub)
    add_map_build_parser(sub)

    weights = subparsers.add_parser(
        "download-weights", help="download and verify the published checkpoints",
        description="Download the published checkpoints to a temporary file, verify the content and sha256, and "
                    "install atomically. Offline: --print shows the commands for another machine, --from-file "
                    "verifies and installs a copied file.")
    weights.add_argument("names", nargs="*", metavar="NAME",
                         help=f"checkpoints (default: all): {', '.join(sorted(CHECKPOINTS))}")
    weights.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="install folder (default: %(default)s)")
    weights.add_argument("--print", dest="print_only", action="store_true", help="only print the commands")
    weights.add_argument("--from-file", type=Path, help="verify and install this already downloaded file")
    weights.add_argument("--url", help="download from this URL instead (a mirror, or a file:// path)")
    weights.add_argument("--sha256", help="expected sha256 (overrides the table and the recorded sum; the record "
                                          "is rewritten with the installed file's sum)")
    weights.set_defaults(func=run_download)


def localizer_config(args: argparse.Namespace) -> LocalizerConfig:
    """The config file's settings, with the paper's N and f for this benchmark unless given on the command line,
    and --weights selecting the VGG16 backbone."""
    config = load_config(LocalizerConfig, args.config, node_name="localizer")
    paper = PAPER_SETTINGS[args.benchmark]
    retrieval = dataclasses.replace(config.retrieval, num_references=args.num_references or paper["num_references"])
    matcher = dataclasses.replace(config.matcher, ratio_fraction=args.ratio_fraction or paper["ratio_fraction"])
    features = config.features
    if args.weights:
        features = dataclasses.replace(features, backbone="vgg16", weights=str(args.weights))
    return dataclasses.replace(config, features=features, retrieval=retrieval, matcher=matcher)


def _localizer_for(split: BenchmarkSplit, map_dir: Path, config: LocalizerConfig, builder: MapBuilderConfig,
                   benchmark: str) -> tuple[Localize, dict[str, Pose]]:
    """The localize callable on the split's map (built when absent) and the map's reference poses, by name (what
    the fallback to retrieval reads)."""
    from ..localizer import Localizer
    from ..mapping.builder import build_map

    if (map_dir / "map.yaml").is_file():
        print(f"{split.name}: reusing the map in {map_dir}")
    else:
        print(f"{split.name}: building the map of {len(split.references)} reference images in {map_dir}")
        build_map(split.references, builder, map_dir, metadata={"benchmark": benchmark, "split": split.name})
    localizer = Localizer.from_map(map_dir, config)
    poses = dict(zip(localizer.map.reference_names, localizer.map.cam_from_world))
    return (lambda query: localizer.localize(query.frame.load(), query.frame.camera)), poses


def run_benchmark(args: argparse.Namespace) -> int:
    config = localizer_config(args)
    builder = dataclasses.replace(load_config(MapBuilderConfig, args.builder_config, node_name="map_builder"),
                                  features=config.features)
    if args.benchmark == "robotcar-seasons":
        splits = [read_robotcar_seasons(args.dataset, args.conditions, args.groundtruth, args.split)]
    else:
        splits = read_cmu_seasons(args.dataset, args.slices)
    maps = args.map or args.out / "maps"
    results = []
    for split in splits:
        map_dir = maps if args.benchmark == "robotcar-seasons" else maps / split.name
        localize, poses = _localizer_for(split, map_dir, config, builder, args.benchmark)
        results += localize_split(split, localize, fallback_to_retrieval=args.fallback_to_retrieval,
                                  reference_poses=poses)
    groups = splits[0].condition_groups
    info = {"dataset": str(args.dataset), "map": str(maps), "config": dataclasses.asdict(config),
            "fallback_to_retrieval": args.fallback_to_retrieval,
            **({"split": args.split} if args.benchmark == "robotcar-seasons" else {})}
    paths = write_outputs(results, args.out, args.benchmark, groups, info)
    counts = pose_counts(results)
    print(f"localized {counts['localized']}/{len(results)} queries"
          + (f", {counts['fallback_to_retrieval']} more with the pose of their top-1 retrieved reference"
             if args.fallback_to_retrieval else "") + f"; submission: {paths['submission']}")
    table = recall_report(results, groups)
    print(table if table is not None else "no query has ground truth: upload the submission to "
                                          "https://www.visuallocalization.net to get the recall")
    return 0


def run_download(args: argparse.Namespace) -> int:
    names = args.names or sorted(CHECKPOINTS)
    unknown = sorted(set(names) - set(CHECKPOINTS))
    if unknown:
        raise ValueError(f"unknown checkpoint(s) {unknown}; known: {sorted(CHECKPOINTS)}")
    if (args.from_file or args.url) and len(names) != 1:
        raise ValueError("--from-file and --url install one checkpoint: name it")
    for name in names:
        checkpoint = CHECKPOINTS[name]
        if args.print_only:
            print(f"# {name}: {checkpoint.description} (about {checkpoint.approx_mb:g} MB)\n"
                  f"{commands(checkpoint, args.dir)}")
            continue
        had_record = (args.dir / f"{checkpoint.filename}.sha256").is_file()
        if args.from_file:
            path = install(args.from_file, checkpoint, args.dir, args.sha256)
        else:
            print(f"downloading {name} from {args.url or checkpoint.url} ...")
            path = download(checkpoint, args.dir, args.url, args.sha256)
        digest = path.with_name(path.name + ".sha256").read_text().split()[0]  # rewritten by every install
        if args.sha256 or checkpoint.sha256:
            verified = "verified"
        elif had_record:
            verified = "matches the sum recorded by an earlier install"
        else:
            verified = "recorded (compare with a trusted copy)"
        print(f"{name}: installed {path}; sha256 {digest} {verified}")
    return 0
