"""Conversions between ROS image messages and the project's images (RGB uint8, shape (H, W, 3)).

One module for every consumer (the bag reader, the offline tools and the ROS nodes): the functions only read the
message fields (`encoding`, `step`, `data`, ... or `format`, `data`), so rosbags and rclpy messages both work.

Bayer encodings follow ROS naming: `bayer_rggb8` means the top-left 2x2 block of the sensor is R G / G B.
OpenCV's historic names (COLOR_BayerBG2RGB for that pattern) are offset by one pixel; its explicit aliases
(COLOR_BayerRGGB2RGB, same value) are used here so the mapping reads as what it is.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

# ROS Bayer encoding → (OpenCV demosaicing code, the colour (0=R, 1=G, 2=B) at each position of the 2x2 block).
BAYER_PATTERNS: dict[str, tuple[int, tuple[tuple[int, int], tuple[int, int]]]] = {
    "bayer_rggb8": (cv2.COLOR_BayerRGGB2RGB, ((0, 1), (1, 2))),
    "bayer_bggr8": (cv2.COLOR_BayerBGGR2RGB, ((2, 1), (1, 0))),
    "bayer_gbrg8": (cv2.COLOR_BayerGBRG2RGB, ((1, 2), (0, 1))),
    "bayer_grbg8": (cv2.COLOR_BayerGRBG2RGB, ((1, 0), (2, 1))),
}

# Encoding → (channels, bytes per channel) of the raw sensor_msgs/Image layout.
_LAYOUT = {
    "rgb8": (3, 1), "bgr8": (3, 1), "rgba8": (4, 1), "bgra8": (4, 1), "mono8": (1, 1), "mono16": (1, 2),
    **{name: (1, 1) for name in BAYER_PATTERNS},
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUT)
COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")


@lru_cache(maxsize=None)
def _default_typestore() -> Typestore:
    return get_typestore(Stores.ROS2_HUMBLE)


def _buffer(data: Any) -> np.ndarray:
    """The message's byte payload as a flat uint8 array (numpy array, bytes, array.array or a list of ints)."""
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def is_compressed(msg: Any) -> bool:
    """True for a sensor_msgs/CompressedImage (it has `format` where an Image has `encoding`)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def image_from_msg(msg: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) image of a sensor_msgs/Image or sensor_msgs/CompressedImage.

    16-bit mono is scaled to 8 bits (x * 255 / 65535); Bayer images are demosaiced with OpenCV's bilinear method.
    """
    if is_compressed(msg):
        return _decode_compressed(msg)
    encoding = str(msg.encoding).lower()
    if encoding not in _LAYOUT:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)} "
                         "(or publish sensor_msgs/CompressedImage in jpeg/png)")
    channels, depth = _LAYOUT[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * depth
    data = _buffer(msg.data)
    if step < row_bytes or data.size < step * height:
        raise ValueError(f"{encoding} image of {width}x{height} needs step >= {row_bytes} and {step * height} bytes "
                         f"of data, got step {step} and {data.size} bytes")
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    if depth == 2:
        pixels = np.array(rows).view(">u2" if msg.is_bigendian else "<u2").reshape(height, width)
        gray = np.round(pixels.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    pixels = np.array(rows).reshape(height, width, channels)  # a copy: message buffers may be read-only
    if encoding in BAYER_PATTERNS:
        return cv2.cvtColor(pixels[:, :, 0], BAYER_PATTERNS[encoding][0])
    converted = {
        "rgb8": lambda p: p,
        "bgr8": lambda p: cv2.cvtColor(p, cv2.COLOR_BGR2RGB),
        "rgba8": lambda p: cv2.cvtColor(p, cv2.COLOR_RGBA2RGB),
        "bgra8": lambda p: cv2.cvtColor(p, cv2.COLOR_BGRA2RGB),
        "mono8": lambda p: cv2.cvtColor(p[:, :, 0], cv2.COLOR_GRAY2RGB),
    }[encoding](pixels)
    return converted


def _decode_compressed(msg: Any) -> np.ndarray:
    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise ValueError(f"CompressedImage format {msg.format!r} is a depth image; an RGB/mono camera is needed")
    bgr = cv2.imdecode(_buffer(msg.data), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"could not decode CompressedImage of format {msg.format!r}; "
                         f"supported formats: {', '.join(COMPRESSED_FORMATS)}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def mosaic(image_rgb: np.ndarray, encoding: str) -> np.ndarray:
    """The (H, W) Bayer raw image a sensor with the ROS pattern `encoding` (e.g. "bayer_gbrg8") would record."""
    if encoding not in BAYER_PATTERNS:
        raise ValueError(f"{encoding!r} is not a Bayer encoding; use one of {', '.join(BAYER_PATTERNS)}")
    image = _check_rgb(image_rgb)
    raw = np.empty(image.shape[:2], dtype=np.uint8)
    for dy in range(2):
        for dx in range(2):
            raw[dy::2, dx::2] = image[dy::2, dx::2, BAYER_PATTERNS[encoding][1][dy][dx]]
    return raw


def _check_rgb(image_rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def _header(stamp_ns: int, frame_id: str, typestore: Typestore) -> Any:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    types = typestore.types
    header = types["std_msgs/msg/Header"]
    fields = {"seq": 0} if "seq" in header.__dataclass_fields__ else {}  # ROS 1 headers carry a sequence number
    return header(stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id, **fields)


def image_to_msg(image_rgb: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "rgb8",
                 typestore: Typestore | None = None) -> Any:
    """A rosbags sensor_msgs/Image of an RGB uint8 image, in any encoding `image_from_msg` reads.

    mono8/mono16 store the luminance (mono16 as x * 257, little-endian); Bayer encodings store the mosaic.
    """
    if encoding not in _LAYOUT:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    image = _check_rgb(image_rgb)
    height, width = image.shape[:2]
    if encoding in BAYER_PATTERNS:
        pixels = mosaic(image, encoding)
    elif encoding in ("mono8", "mono16"):
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        pixels = gray if encoding == "mono8" else (gray.astype("<u2") * 257).view(np.uint8)
    else:
        pixels = {
            "rgb8": lambda im: im,
            "bgr8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
            "rgba8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2RGBA),
            "bgra8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2BGRA),
        }[encoding](image)
    data = np.ascontiguousarray(pixels).reshape(-1)
    typestore = typestore or _default_typestore()
    return typestore.types["sensor_msgs/msg/Image"](
        header=_header(stamp_ns, frame_id, typestore), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=data.size // height, data=data)


def compressed_image_to_msg(image_rgb: np.ndarray, stamp_ns: int, frame_id: str, fmt: str = "jpeg",
                            quality: int = 95, typestore: Typestore | None = None) -> Any:
    """A rosbags sensor_msgs/CompressedImage (jpeg or png) of an RGB uint8 image."""
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"unsupported compressed format {fmt!r}; use one of {', '.join(COMPRESSED_FORMATS)}")
    bgr = cv2.cvtColor(_check_rgb(image_rgb), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode("." + ("jpg" if fmt == "jpeg" else "png"), bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {fmt}")
    typestore = typestore or _default_typestore()
    return typestore.types["sensor_msgs/msg/CompressedImage"](
        header=_header(stamp_ns, frame_id, typestore), format=fmt, data=encoded.reshape(-1))

def read_image_rgb(path: Path) -> np.ndarray:
    """An image file (JPEG, PNG, ...) as RGB uint8 (H, W, 3)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path} (missing, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
