"""When to send a fix to Nav2's /initialpose: never, on the first fix, or on the next fix after a request."""
from __future__ import annotations

import threading

MODES = ("off", "first_fix", "on_demand")


class InitialPosePolicy:
    def __init__(self, mode: str = "off") -> None:
        if mode not in MODES:
            raise ValueError(f"publish_initialpose must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self._lock = threading.Lock()
        self._armed = mode == "first_fix"

    def request(self) -> None:
        """Ask for the next fix to be sent (the on_demand service; also re-arms first_fix)."""
        if self.mode == "off":
            raise ValueError("publish_initialpose is 'off'; set it to 'on_demand' or 'first_fix'")
        with self._lock:
            self._armed = True

    def take(self) -> bool:
        """Called on each successful fix: True exactly when this one must be sent."""
        with self._lock:
            armed, self._armed = self._armed, False
            return armed
