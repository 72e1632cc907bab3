"""Image message conversions: every encoding, row padding, endianness, Bayer patterns against OpenCV."""
import cv2
import numpy as np
import pytest

from s2dhm_ros.io.images import (BAYER_PATTERNS, SUPPORTED_ENCODINGS, compressed_image_to_msg, image_from_msg,
                                 image_to_msg, mosaic)

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_round_trip_is_exact(encoding):
    msg = image_to_msg(IMAGE, 1_500_000_000_123, "cam", encoding)
    assert msg.encoding == encoding and msg.header.stamp.sec == 1500 and msg.header.stamp.nanosec == 123
    assert np.array_equal(image_from_msg(msg), IMAGE)


@pytest.mark.parametrize("encoding", ["mono8", "mono16"])
def test_mono_round_trip_gives_the_luminance(encoding):
    gray = cv2.cvtColor(IMAGE, cv2.COLOR_RGB2GRAY)
    out = image_from_msg(image_to_msg(IMAGE, 0, "cam", encoding))
    assert out.shape == IMAGE.shape and all(np.array_equal(out[:, :, c], gray) for c in range(3))


def test_bgr8_channel_order():
    msg = image_to_msg(np.array([[[255, 0, 0]]], np.uint8), 0, "cam", "bgr8")
    assert list(msg.data) == [0, 0, 255]


def test_row_padding_is_skipped():
    msg = image_to_msg(IMAGE, 0, "cam", "rgb8")
    rows = np.asarray(msg.data).reshape(6, 24)
    msg.data = np.hstack([rows, np.full((6, 8), 77, np.uint8)]).reshape(-1)
    msg.step = 32
    assert np.array_equal(image_from_msg(msg), IMAGE)


def test_mono16_big_endian_and_scaling():
    values = np.array([[0, 257, 65535, 32896]], dtype=">u2")
    msg = image_to_msg(np.zeros((1, 4, 3), np.uint8), 0, "cam", "mono16")
    msg.data, msg.is_bigendian = values.view(np.uint8).reshape(-1), 1
    assert list(image_from_msg(msg)[0, :, 0]) == [0, 1, 255, 128]


@pytest.mark.parametrize("encoding", sorted(BAYER_PATTERNS))
def test_bayer_demosaics_a_flat_colour_exactly(encoding):
    """A uniform colour mosaicked with the ROS pattern must come back as that colour: proves the pattern naming."""
    colour = np.array([200, 100, 30], np.uint8)
    flat = np.broadcast_to(colour, (8, 10, 3)).copy()
    raw = mosaic(flat, encoding)
    top_left = {"bayer_rggb8": 200, "bayer_bggr8": 30, "bayer_gbrg8": 100, "bayer_grbg8": 100}[encoding]
    assert raw[0, 0] == top_left
    out = image_from_msg(image_to_msg(flat, 0, "cam", encoding))
    assert np.array_equal(out[2:-2, 2:-2], flat[2:-2, 2:-2])


@pytest.mark.parametrize("encoding,code", [("bayer_rggb8", cv2.COLOR_BayerRGGB2RGB),
                                           ("bayer_gbrg8", cv2.COLOR_BayerGBRG2RGB)])
def test_bayer_matches_opencv_on_a_known_pixel(encoding, code):
    msg = image_to_msg(IMAGE, 0, "cam", encoding)
    raw = np.asarray(msg.data).reshape(6, 8)
    expected = cv2.cvtColor(raw, code)
    out = image_from_msg(msg)
    assert np.array_equal(out, expected)
    # At an R site of an RGGB sensor the red value is the recorded one.
    if encoding == "bayer_rggb8":
        assert out[2, 2, 0] == IMAGE[2, 2, 0]


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_round_trip(fmt):
    smooth = np.dstack([np.tile(np.arange(0, 64, 4, dtype=np.uint8), (16, 1))] * 3)
    out = image_from_msg(compressed_image_to_msg(smooth, 0, "cam", fmt))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).max() <= (0 if fmt == "png" else 8)


def test_unknown_encoding_is_named_with_the_supported_ones():
    msg = image_to_msg(IMAGE, 0, "cam", "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(ValueError, match="yuv422") as e:
        image_from_msg(msg)
    assert all(enc in str(e.value) for enc in SUPPORTED_ENCODINGS)


def test_short_data_is_a_clear_error():
    msg = image_to_msg(IMAGE, 0, "cam", "rgb8")
    msg.data = msg.data[:10]
    with pytest.raises(ValueError, match="bytes"):
        image_from_msg(msg)


def test_works_on_any_object_with_the_fields():
    class Msg:  # e.g. an rclpy message: data is an array.array / bytes
        encoding, height, width, step, is_bigendian = "rgb8", 6, 8, 24, 0
        data = IMAGE.tobytes()

    assert np.array_equal(image_from_msg(Msg()), IMAGE)
