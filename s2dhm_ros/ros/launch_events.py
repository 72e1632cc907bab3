"""Start launch actions when a process prints a line, without importing launch (works in launch files and tests).

The `localizer` node imports torch and loads its map before it is useful, which takes from seconds to minutes; a
fixed delay before playing a bag is either too long or too short. Instead, register

    trigger = OutputTrigger(MAP_LOADED, [play])
    RegisterEventHandler(OnProcessIO(on_stdout=trigger, on_stderr=trigger))

before the node's action: `play` starts once, when the node logs that its map is in service (ROS logs go to stderr
by default; stdout is watched too). The node creates its subscriptions before it loads the map, so by then it
listens.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

# The localizer's log line when a map is in service: "map <path> loaded: <n> reference images, frame <frame>"
# (LocalizerNode.reload_map; test_ros_localizer_node checks that the node's line matches).
MAP_LOADED = re.compile(r"map \S.* loaded: \d+ reference images")


class OutputTrigger:
    """A callback for launch's OnProcessIO: `actions` the first time a process's output matches `pattern`, else None.

    Output arrives as chunks of bytes (`event.text`) that may split a line: the end of the previous chunks (the last
    `keep` bytes) is searched together with each new one. After it fired, it does nothing.
    """

    def __init__(self, pattern: str | re.Pattern[str], actions: Sequence[Any], keep: int = 4096) -> None:
        self._pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self._actions = list(actions)
        self._keep = keep
        self._tail: dict[Any, str] = {}  # per (process, stream): the output not yet matched
        self.fired = False

    def __call__(self, event: Any) -> list[Any] | None:
        if self.fired:
            return None
        text = event.text.decode("utf-8", errors="replace") if isinstance(event.text, bytes) else str(event.text)
        key = (getattr(event, "pid", None), getattr(event, "fd", None))
        seen = self._tail.get(key, "") + text
        if self._pattern.search(seen):
            self.fired = True
            self._tail.clear()
            return self._actions
        self._tail[key] = seen[-self._keep:]
        return None
