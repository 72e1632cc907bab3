"""Starting bag playback on the localizer's "map loaded" log line (s2dhm_ros.ros.launch_events), and the launch test
that relies on it (test/ros/test_localize_launch.py runs only in the ROS CI: its structure is checked here)."""
import ast
from pathlib import Path
from types import SimpleNamespace

from s2dhm_ros.ros.launch_events import MAP_LOADED, OutputTrigger

ROOT = Path(__file__).resolve().parents[1]
LINE = "[INFO] [1700000000.123456789] [localizer]: map /tmp/s2dhm map loaded: 12 reference images, frame map\n"


def io(text, pid=42, fd=2):
    """launch.events.process.ProcessIO as OnProcessIO hands it over: bytes in `text`."""
    return SimpleNamespace(text=text.encode() if isinstance(text, str) else text, pid=pid, fd=fd)


def test_fires_once_on_the_map_loaded_line_even_split_across_chunks():
    play = object()
    trigger = OutputTrigger(MAP_LOADED, [play])
    assert trigger(io("[INFO] [1700000000.1] [localizer]: importing torch\n")) is None
    assert trigger(io(LINE[:70])) is None and not trigger.fired
    assert trigger(io(LINE[70:])) == [play] and trigger.fired
    assert trigger(io(LINE)) is None  # a reload logs it again: playback is not started twice


def test_coloured_output_matches_and_streams_are_not_mixed():
    coloured = f"\x1b[32m{LINE.strip()}\x1b[0m\n"  # emulate_tty: rcutils colours the line
    assert OutputTrigger(MAP_LOADED, ["play"])(io(coloured)) == ["play"]
    trigger = OutputTrigger(MAP_LOADED, ["play"])
    assert trigger(io(LINE[:70], fd=1)) is None
    assert trigger(io(LINE[70:], fd=2)) is None  # halves from stdout and stderr are not one line
    assert trigger(io(LINE, pid=7, fd=1)) == ["play"]


def test_failures_to_load_do_not_start_playback():
    trigger = OutputTrigger(MAP_LOADED, ["play"])
    for text in ("[ERROR] [localizer]: could not load map /maps/x: no map.yaml\n",
                 "[ERROR] [localizer]: no map: set the `map` parameter to a map directory and call ~/reload_map\n"):
        assert trigger(io(text)) is None
    assert not trigger.fired


def test_bounded_memory_on_long_output():
    trigger = OutputTrigger(MAP_LOADED, ["play"], keep=100)
    for _ in range(1000):
        trigger(io("x" * 1000))
    assert max(len(tail) for tail in trigger._tail.values()) == 100


def test_the_launch_test_starts_playback_on_the_log_line_and_loops():
    tree = ast.parse((ROOT / "test/ros/test_localize_launch.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "TimerAction" not in names  # no fixed delay
    assert {"RegisterEventHandler", "OnProcessIO", "OutputTrigger", "MAP_LOADED"} <= names
    (cmd,) = [kw.value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") ==
              "ExecuteProcess" for kw in n.keywords if kw.arg == "cmd"]
    words = [e.value for e in cmd.elts if isinstance(e, ast.Constant)]
    assert words[:3] == ["ros2", "bag", "play"] and "--loop" in words and "--clock" in words
    (description,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                      and n.func.attr == "LaunchDescription"]
    entries = description.args[0].elts
    first = entries[0]
    assert first.func.id == "RegisterEventHandler"  # registered before the node starts: no output missed
    handler = first.args[0]
    assert handler.func.id == "OnProcessIO" and {kw.arg for kw in handler.keywords} == {"on_stdout", "on_stderr"}
