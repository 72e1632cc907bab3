"""`s2dhm robotcar-to-bag`: convert an Oxford RobotCar camera and its INS trajectory to a rosbag2."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..io.robotcar import CAMERA_MODELS, convert_robotcar


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "robotcar-to-bag", help="convert Oxford RobotCar images + INS to a rosbag2",
        description="Convert one camera of an Oxford RobotCar recording (the dataset's folder layout, as read by "
                    "robotcar-dataset-sdk) into a rosbag2 with Image, CameraInfo, /tf (map→base_link from the INS, "
                    "map = east-north-up at the first pose), /tf_static (base_link→<camera>_optical_frame) and "
                    "nav_msgs/Odometry on /ins/odometry.")
    p.add_argument("--images", required=True, type=Path, help="folder of <timestamp>.png, e.g. <run>/mono_rear")
    p.add_argument("--timestamps", type=Path,
                   help="<camera>.timestamps file (default: found next to the images folder as the SDK does)")
    p.add_argument("--ins", required=True, type=Path, help="the run's gps/ins.csv")
    p.add_argument("--models", required=True, type=Path, help="the SDK's models folder (<model>.txt, LUTs)")
    p.add_argument("--extrinsics", required=True, type=Path, help="the SDK's extrinsics folder (<camera>.txt, ins.txt)")
    p.add_argument("--camera", default="mono_rear", choices=sorted(CAMERA_MODELS), help="camera (default mono_rear)")
    p.add_argument("--out", required=True, type=Path, help="output bag path (must not exist)")
    p.add_argument("--storage", default="sqlite3", choices=["sqlite3", "mcap"], help="rosbag2 storage")
    p.add_argument("--undistort", action="store_true",
                   help="undistort with the model's LUT (recommended: the intrinsics describe undistorted images)")
    p.add_argument("--bayer", default="auto", choices=["auto", "rggb", "gbrg", "bggr", "grbg", "none"],
                   help="Bayer pattern of the PNGs (auto: GBRG for stereo, RGGB for mono, as the SDK; none: colour)")
    p.set_defaults(func=run_robotcar_to_bag)


def default_timestamps(images: Path, camera: str) -> Path:
    """Where the SDK looks: `<camera>.timestamps` next to the images folder, or one level up (stereo/centre)."""
    name = "stereo" if camera.startswith("stereo") else camera
    candidates = [images.parent / f"{name}.timestamps", images.parent.parent / f"{name}.timestamps"]
    return next((c for c in candidates if c.is_file()), candidates[0])


def run_robotcar_to_bag(args: argparse.Namespace) -> int:
    timestamps = args.timestamps or default_timestamps(args.images, args.camera)
    with tqdm(desc=f"robotcar-to-bag {args.camera}", unit="img") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = convert_robotcar(args.images, timestamps, args.ins, args.models, args.extrinsics, args.out,
                                   camera=args.camera, storage=args.storage, undistort_images=args.undistort,
                                   bayer=None if args.bayer == "none" else args.bayer, progress=progress)
    north, east, down = summary.map_origin_ned
    print(f"wrote {args.out}: {summary.images_written} images ({summary.images_missing} listed but missing), "
          f"{summary.ins_samples_written} INS poses; map origin at UTM northing {north:.3f}, easting {east:.3f}, "
          f"down {down:.3f}; camera {summary.camera.model} {summary.camera.width}x{summary.camera.height}")
    return 0
