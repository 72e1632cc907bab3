"""Opening bags: sqlite3 and mcap, time order, and clear errors for missing, truncated and unknown."""
from pathlib import Path

import numpy as np
import pytest

from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.bag_reader import BagFormatError, BagNotFoundError, BagReader, TopicError
from s2dhm_ros.io.bag_writer import BagWriter, tf_message, transform_stamped_msg
from s2dhm_ros.io.images import image_to_msg


def write_bag(path: Path, storage: str, image_shape: tuple[int, int, int] = (24, 32, 3)) -> Path:
    with BagWriter(path, storage=storage) as bag:
        for i in range(20):
            bag.write("/cam/image_raw", image_to_msg(np.full(image_shape, i, np.uint8), i * 10**8, "cam"), i * 10**8)
            stamp = i * 10**8 + 5 * 10**7
            bag.write("/tf", tf_message([transform_stamped_msg("map", "cam", Pose.identity(), stamp)]), stamp)
    return path


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_reads_in_time_order(tmp_path, storage):
    path = write_bag(tmp_path / "bag", storage)
    storage_file = next(p for p in path.iterdir() if p.suffix in (".db3", ".mcap"))
    for target in (path, storage_file):  # the bag directory or its bare storage file
        with BagReader(target) as bag:
            assert bag.topics == {"/cam/image_raw": "sensor_msgs/msg/Image", "/tf": "tf2_msgs/msg/TFMessage"}
            messages = list(bag.messages(["/cam/image_raw", "/tf"]))
            stamps = [m.bag_stamp_ns for m in messages]
            assert len(messages) == 40 and stamps == sorted(stamps)
            assert [m.topic for m in messages[:2]] == ["/cam/image_raw", "/tf"]
            assert int(messages[2].msg.data[0]) == 1
            assert len(list(bag.messages(["/cam/image_raw"], 5 * 10**8, 8 * 10**8))) == 3


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_truncated_bag_is_a_clear_error(tmp_path, storage):
    """A storage file cut at 50 %, 90 %, 99 % or 99.9 % of its length either raises BagFormatError naming the bag
    and the remedy (when opening it or while reading its messages), or reads without error a prefix of the
    original messages: no storage library's own exception gets through.

    With 64x48 images the sqlite3 cuts near the end open fine and fail only while reading (apsw's IOError or
    CorruptError, not sqlite3's); the mcap cuts all lose the footer and fail when opening.
    """
    topics = ["/cam/image_raw", "/tf"]
    original = write_bag(tmp_path / "original", storage, image_shape=(48, 64, 3))
    storage_file = next(p for p in original.iterdir() if p.suffix in (".db3", ".mcap"))
    data = storage_file.read_bytes()
    with BagReader(original) as bag:
        everything = [(m.topic, m.bag_stamp_ns) for m in bag.messages(topics)]
    failed_while_reading = 0
    for fraction in (0.5, 0.9, 0.99, 0.999):
        path = tmp_path / f"cut-{fraction}"
        path.mkdir()
        (path / "metadata.yaml").write_bytes((original / "metadata.yaml").read_bytes())
        (path / storage_file.name).write_bytes(data[: int(len(data) * fraction)])
        opened = False
        try:
            with BagReader(path) as bag:
                opened = True
                read = [(m.topic, m.bag_stamp_ns) for m in bag.messages(topics)]
        except BagFormatError as e:
            assert f"cannot read bag {path}: " in str(e), fraction
            assert "truncated or corrupt; re-record or re-copy it" in str(e), fraction
            failed_while_reading += opened
        else:
            assert read == everything[: len(read)], fraction
    if storage == "sqlite3":
        assert failed_while_reading, "no cut failed after opening: the error path of messages() went untested"


def test_unknown_topic_lists_the_topics(tmp_path):
    path = write_bag(tmp_path / "bag", "sqlite3")
    with BagReader(path) as bag:
        with pytest.raises(TopicError) as e:
            bag.require_topic("/camera/image_raw")
        assert "/cam/image_raw (sensor_msgs/msg/Image, 20 msgs)" in str(e.value)
        assert "/tf (tf2_msgs/msg/TFMessage" in str(e.value)
        with pytest.raises(TopicError, match="carries tf2_msgs/msg/TFMessage"):
            bag.require_topic("/tf", ["sensor_msgs/msg/Image"])


def test_missing_and_unsupported_paths(tmp_path):
    with pytest.raises(BagNotFoundError, match="does not exist"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagFormatError, match="metadata.yaml"):
        BagReader(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagFormatError, match="unsupported bag file type"):
        BagReader(tmp_path / "notes.txt")
    (tmp_path / "garbage.db3").write_bytes(b"\x00" * 100)
    with pytest.raises(BagFormatError):
        with BagReader(tmp_path / "garbage.db3"):
            pass
