"""`s2dhm localize` (image files) and `s2dhm localize-bag` (every image of a recorded bag, with outputs for replay
and evaluation): the offline counterparts of the localizer node."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..config import LocalizerConfig, load_config, to_dict
from ..evaluation import bag_localization as bl
from ..geometry import Camera
from ..io.posed_images import read_intrinsics
from ..io.images import read_image_rgb
from ..localizer import STAGES, LocalizationResult, Localizer
from ..runtime.pose_output import published_pose


def _camera_option(text: str) -> Camera:
    """`MODEL,W,H,params...` (COLMAP model names), e.g. PINHOLE,640,480,500,500,320,240."""
    fields = [f for f in text.replace(" ", ",").split(",") if f]
    try:
        return Camera(fields[0].upper(), int(fields[1]), int(fields[2]), tuple(float(v) for v in fields[3:]))
    except (IndexError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"expected MODEL,WIDTH,HEIGHT,PARAMS... e.g. "
                                         f"PINHOLE,640,480,500,500,320,240, got {text!r}: {e}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "localize", help="localize image files against a map",
        description="Localize each image against the map: prints the pose (cam_from_world qvec/tvec and the "
                    "camera centre in the map frame), inliers, the reference image used, the covariance diagonal "
                    "(x, y, z in m², rotations in rad², map axes) and per-stage timings. Exit status 1 when an "
                    "image could not be localized.")
    p.add_argument("--map", required=True, type=Path, help="map directory (from s2dhm build-map)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    intrinsics = p.add_mutually_exclusive_group(required=True)
    intrinsics.add_argument("--intrinsics", type=Path,
                            help="'[NAME] MODEL W H PARAMS...' per line (NAME: the image file name), or one line "
                                 "without NAME for all images")
    intrinsics.add_argument("--camera", type=_camera_option, metavar="MODEL,W,H,PARAMS",
                            help="one camera for all images, e.g. PINHOLE,640,480,500,500,320,240")
    p.add_argument("--config", type=Path, help="LocalizerConfig YAML (e.g. config/localizer.yaml)")
    p.add_argument("--json", action="store_true", help="print one JSON list of results instead of text")
    p.set_defaults(func=run_localize)

    b = subparsers.add_parser(
        "localize-bag", help="localize every image of a rosbag2 against a map and evaluate",
        description="Localize every image (or every n-th) of a bag (sqlite3, mcap or ROS 1) with intrinsics from "
                    "its CameraInfo. Writes to --out: poses/ (a rosbag2 of what the localizer node would publish: "
                    f"geometry_msgs/PoseWithCovarianceStamped on {bl.POSE_TOPIC} and /tf at the image stamps; "
                    "by default the camera frame and map→camera, with --base-frame/--odom-frame the node's "
                    "base_frame pose and map→odom from the bag's own TF), trajectory.tum (camera "
                    "optical frame in the map), results.json and, when ground truth is known (--groundtruth, or "
                    "the bag's own /tf chain map→camera frame), report.md with recall at (0.25 m, 2°), "
                    "(0.5 m, 5°), (5 m, 10°) and plots.")
    b.add_argument("--map", required=True, type=Path, help="map directory (from s2dhm build-map)")
    b.add_argument("--bag", required=True, type=Path, help="rosbag2 directory or storage file, or ROS 1 .bag")
    b.add_argument("--image-topic", default="/camera/image_raw", help="Image or CompressedImage topic "
                                                                      "(default /camera/image_raw)")
    b.add_argument("--camera-info-topic", default=None,
                   help="CameraInfo topic (default: <image namespace>/camera_info)")
    b.add_argument("--stride", type=_positive_int, default=1, metavar="N", help="localize every N-th image (default 1)")
    b.add_argument("--config", type=Path, help="LocalizerConfig YAML (e.g. config/localizer.yaml)")
    b.add_argument("--groundtruth", type=Path, metavar="TUM",
                   help="ground truth of the camera optical frame in the map ('stamp tx ty tz qx qy qz qw'); "
                        "default: the bag's /tf chain map→camera frame where it has one")
    b.add_argument("--out", type=Path, help="output directory, new or empty (default: <bag>_s2dhm next to the bag)")
    b.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3", help="storage of the output bag")
    b.add_argument("--map-frame", default=None, help="frame of the output poses (default: the map's frame_id)")
    b.add_argument("--tf-child-frame", default=None,
                   help="rename the child frame of the output /tf (default: the published frame, or --odom-frame), "
                        "e.g. to replay map→camera next to the input bag, whose TF tree already has that frame")
    b.add_argument("--base-frame", default="",
                   help="publish the pose of this frame (e.g. base_link; camera extrinsic from the bag's TF), as the "
                        "node's base_frame (default: the camera optical frame)")
    b.add_argument("--odom-frame", default="",
                   help="record TF map→this frame from the bag's odom→base_frame at each image stamp (REP-105), as "
                        "the node's odom_frame (default: TF map→published frame)")
    b.add_argument("--pixel-noise-px", type=float, default=None,
                   help="pixel noise (std, px) of one match for the covariance, as pose.covariance_pixel_noise_px "
                        "(default: one feature cell / sqrt(12), see docs/pose-prior.md)")
    b.set_defaults(func=run_localize_bag)


def _cameras_for(args: argparse.Namespace) -> list[Camera]:
    if args.camera is not None:
        return [args.camera] * len(args.images)
    cameras = read_intrinsics(args.intrinsics)
    missing = [i.name for i in args.images if i.name not in cameras and None not in cameras]
    if missing:
        raise ValueError(f"{args.intrinsics} has no camera for {', '.join(missing)} (and no line for all images)")
    return [cameras.get(i.name, cameras.get(None)) for i in args.images]


def _result_json(image: Path, result: LocalizationResult) -> dict:
    out = {"image": str(image), "success": result.success, "num_inliers": result.num_inliers,
           "num_matches": result.num_matches, "reference": result.reference,
           "failure_reason": result.failure_reason, "timings_s": result.timings}
    if result.success:
        pose = result.cam_from_world
        published = published_pose(pose, result.covariance)
        out.update(qvec_wxyz=pose.qvec.tolist(), tvec=pose.t.tolist(), center=pose.center.tolist(),
                   # camera pose in the map frame, ROS order (x y z, rot x y z), as the node publishes it
                   covariance=None if published.covariance is None else published.covariance.tolist())
    return out


def _format_result(r: dict) -> str:
    if not r["success"]:
        return f"{r['image']}: not localized: {r['failure_reason']}"

    def fmt(values: list[float], digits: int) -> str:
        return " ".join(f"{v:.{digits}f}" for v in values)

    lines = [f"{r['image']}: {r['num_inliers']} inliers ({r['num_matches']} matches), reference {r['reference']}",
             f"  cam_from_world qvec (w x y z) {fmt(r['qvec_wxyz'], 6)}  tvec {fmt(r['tvec'], 4)}",
             f"  camera centre in map {fmt(r['center'], 4)}"]
    if r["covariance"] is not None:
        lines.append("  covariance diagonal (x y z m², rx ry rz rad²) "
                     + " ".join(f"{v:.3g}" for v in np.diag(r["covariance"])))
    lines.append("  timings " + ", ".join(f"{s} {1e3 * r['timings_s'].get(s, 0.0):.0f} ms" for s in STAGES))
    return "\n".join(lines)


def run_localize(args: argparse.Namespace) -> int:
    config = load_config(LocalizerConfig, args.config, node_name="localizer")
    cameras = _cameras_for(args)
    localizer = Localizer.from_map(args.map, config)
    results = []
    for image_path, camera in tqdm(list(zip(args.images, cameras)), desc="localizing", unit="img",
                                   disable=len(args.images) < 2):
        results.append(_result_json(image_path, localizer.localize(read_image_rgb(image_path), camera)))
        if not args.json:
            tqdm.write(_format_result(results[-1]))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0 if all(r["success"] for r in results) else 1


def _output_dir(args: argparse.Namespace) -> Path:
    out = args.out or args.bag.with_name(args.bag.name + "_s2dhm")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"output directory {out} exists and is not empty; remove it or give another --out")
    return out


def run_localize_bag(args: argparse.Namespace) -> int:
    config = load_config(LocalizerConfig, args.config, node_name="localizer")
    if args.pixel_noise_px is not None:
        config.pose.covariance_pixel_noise_px = args.pixel_noise_px
    out = _output_dir(args)
    total = bl.count_images(args.bag, args.image_topic)
    localizer = Localizer.from_map(args.map, config)
    map_frame = args.map_frame or localizer.map.frame_id
    tf = bl.bag_tf(args.bag) if args.base_frame or args.odom_frame or not args.groundtruth else None  # read once
    groundtruth = (bl.groundtruth_from_tum(args.groundtruth, map_frame) if args.groundtruth
                   else bl.groundtruth_from_bag(args.bag, map_frame, tf=tf))
    start = time.perf_counter()
    localized = 0
    with tqdm(total=-(-total // args.stride), desc="localizing", unit="img") as bar:
        def on_frame(record: bl.FrameRecord) -> None:
            nonlocal localized
            localized += record.success
            bar.set_postfix(localized=localized, refresh=False)
            bar.update(1)

        settings = bl.offline_settings(args.base_frame, args.odom_frame)
        lookup = bl.tf_lookup(tf)
        records = bl.localize_bag(localizer, args.bag, args.image_topic, args.camera_info_topic, args.stride,
                                  groundtruth, settings, lookup, on_frame)
    wall = time.perf_counter() - start
    judged = groundtruth is not None and any(r.groundtruth is not None for r in records)
    run = bl.BagLocalizationRun(str(args.bag), str(args.map), args.image_topic, args.stride, map_frame,
                                groundtruth.description if judged else None, to_dict(config), wall)
    summary = bl.write_outputs(records, run, out, args.storage, args.tf_child_frame)
    print(summary)
    return 0
