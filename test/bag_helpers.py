"""Reading bags back in tests (shared by the bag writer, synthetic street and end-to-end tests)."""
from pathlib import Path

from rosbags.highlevel import AnyReader

from s2dhm_ros.geometry import Pose


def read_messages(path: Path) -> dict[str, list]:
    """Per topic: list of (bag stamp, deserialised message), in bag order."""
    out: dict[str, list] = {}
    with AnyReader([Path(path)]) as reader:
        for conn, stamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((stamp, reader.deserialize(raw, conn.msgtype)))
    return out


def pose_from_fields(position, orientation) -> Pose:
    """A Pose from message fields (geometry_msgs Point/Vector3 + Quaternion)."""
    return Pose.from_message_fields(position, orientation)
