"""Reading recorded bags without a ROS install, through `rosbags`' AnyReader.

Opens rosbag2 bags (a directory with metadata.yaml, or a bare .db3 / .mcap storage file) and ROS 1 .bag files,
and turns every way a bag can be unreadable into one of three exceptions that say what was found and what to do:
`BagNotFoundError` (a FileNotFoundError), `BagFormatError` (a ValueError: corrupt, truncated, unsupported) and
`TopicError` (a ValueError: a topic that is not in the bag or carries an unexpected type).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Collection, Iterator, Sequence

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag1 import ReaderError as Ros1ReaderError
from rosbags.rosbag2 import ReaderError as Ros2ReaderError
from rosbags.typesys import Stores, get_typestore

try:  # rosbags reads sqlite3 storage through apsw, whose errors (e.g. CorruptError) are not sqlite3's
    from apsw import Error as _ApswError
    _SQLITE_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError, _ApswError)
except ImportError:  # a rosbags that reads through the standard library's sqlite3
    _SQLITE_ERRORS = (sqlite3.DatabaseError,)

BAG_SUFFIXES = (".db3", ".mcap", ".bag")
_READ_ERRORS = (AnyReaderError, Ros1ReaderError, Ros2ReaderError, EOFError, *_SQLITE_ERRORS)


class BagNotFoundError(FileNotFoundError):
    """The bag path does not exist."""


class BagFormatError(ValueError):
    """The path exists but is not a readable bag (corrupt, truncated, or of an unsupported format)."""


class TopicError(ValueError):
    """A requested topic is missing from the bag or has an unexpected message type."""


@dataclass(frozen=True)
class BagMessage:
    """One deserialised message and where it sits in the bag (`bag_stamp_ns` is the recording time)."""

    topic: str
    msgtype: str
    bag_stamp_ns: int
    msg: Any


def header_stamp_ns(msg: Any) -> int:
    """Integer nanoseconds of `msg.header.stamp` (ROS 2 `sec`/`nanosec`, as rosbags also gives ROS 1 times)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _unreadable(path: Path, error: Exception) -> BagFormatError:
    """One clear error for a storage-level failure, whether it shows when opening or only later while reading."""
    return BagFormatError(f"cannot read bag {path}: {error} (the file may be truncated or corrupt; re-record or "
                          "re-copy it)")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise BagNotFoundError(f"bag {path} does not exist")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        storage = sorted(p.name for p in path.iterdir() if p.suffix in BAG_SUFFIXES)
        hint = f"; open the storage file directly, e.g. {path / storage[0]}" if storage else ""
        raise BagFormatError(f"{path} is a directory without metadata.yaml, so not a rosbag2 bag{hint}")
    if path.is_file() and path.suffix not in BAG_SUFFIXES:
        raise BagFormatError(f"{path}: unsupported bag file type {path.suffix!r}; expected a rosbag2 directory or "
                             f"a file ending in {', '.join(BAG_SUFFIXES)}")


class BagReader:
    """An open bag. Use as a context manager:

        with BagReader(path) as bag:
            bag.require_topic("/camera/image_raw", IMAGE_TYPES)
            for m in bag.messages(["/camera/image_raw", "/tf"]):
                ...
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_path(self.path)
        self._reader: AnyReader | None = None

    def __enter__(self) -> "BagReader":
        try:
            reader = AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
            reader.open()
        except _READ_ERRORS as e:
            raise _unreadable(self.path, e) from e
        self._reader = reader
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> AnyReader:
        if self._reader is None:
            raise RuntimeError("BagReader is not open; use it as a context manager")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        """Topic name → message type (e.g. "sensor_msgs/msg/Image") of every topic in the bag."""
        return {name: info.msgtype or "<mixed types>" for name, info in self.reader.topics.items()}

    @property
    def start_ns(self) -> int:
        return int(self.reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self.reader.end_time)

    def describe_topics(self) -> str:
        """The bag's topics as "name (type, N msgs)", for error messages and logs."""
        infos = self.reader.topics
        if not infos:
            return "the bag has no topics"
        return "; ".join(f"{name} ({info.msgtype}, {info.msgcount} msgs)" for name, info in sorted(infos.items()))

    def has_topic(self, topic: str) -> bool:
        return topic in self.reader.topics

    def require_topic(self, topic: str, msgtypes: Collection[str] | None = None) -> str:
        """The message type of `topic`; a `TopicError` listing the bag's topics if it is missing or of another type."""
        msgtype = self.topics.get(topic)
        if msgtype is None:
            raise TopicError(f"topic {topic!r} is not in bag {self.path}; topics found: {self.describe_topics()}")
        if msgtypes is not None and msgtype not in msgtypes:
            raise TopicError(f"topic {topic!r} in bag {self.path} carries {msgtype}; expected one of "
                             f"{', '.join(sorted(msgtypes))}")
        return msgtype

    def messages(self, topics: Sequence[str], start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[BagMessage]:
        """Deserialised messages of `topics` in recording-time order, within [start_ns, stop_ns) when given."""
        for topic in topics:
            self.require_topic(topic)
        wanted = set(topics)
        connections = [c for c in self.reader.connections if c.topic in wanted]
        try:
            for connection, stamp, raw in self.reader.messages(connections, start=start_ns, stop=stop_ns):
                yield BagMessage(connection.topic, connection.msgtype, int(stamp),
                                 self.reader.deserialize(raw, connection.msgtype))
        except _READ_ERRORS as e:
            raise _unreadable(self.path, e) from e
