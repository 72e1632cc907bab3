"""Whether the next frame is localized: continuous or on request (one published fix per request), and paused.

Names follow the navigation stacks: Isaac ROS Visual Global Localization's `enable_continuous_localization` and
trigger, RTAB-Map's pause/resume. Thread-safe: services call it from the executor, the worker thread per frame.
"""
from __future__ import annotations

import threading


class LocalizationControl:
    def __init__(self, continuous: bool = True) -> None:
        self.continuous = continuous
        self._lock = threading.Lock()
        self._paused = False
        self._requested = False

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    @property
    def requested(self) -> bool:
        with self._lock:
            return self._requested

    def skip_reason(self) -> str | None:
        """Why the next frame is not localized, or None when it is."""
        with self._lock:
            if self._paused:
                return "paused (call ~/resume)"
            if not self.continuous and not self._requested:
                return "waiting for a ~/trigger_localization request (enable_continuous_localization is false)"
            return None

    def trigger(self) -> str:
        """Request one fix: frames are localized until one is published (also while continuous: a no-op)."""
        with self._lock:
            self._requested = True
            paused = self._paused
        return ("localizing until the next fix is published" if not paused
                else "requested, but localization is paused: call ~/resume")

    def set_paused(self, paused: bool) -> str:
        with self._lock:
            changed, self._paused = self._paused != paused, paused
        state = "paused" if paused else "resumed"
        return state if changed else f"already {state}"

    def on_published(self) -> None:
        """A fix was published: a request is served."""
        with self._lock:
            self._requested = False
