"""Bounded running statistics of a localization stream, for logs and diagnostic_msgs.

Everything kept is bounded: sliding windows of fixed length, and at most `max_reasons` distinct failure reasons
(free-text reasons are reduced to a key without their numbers, the rest are counted under "other").
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

OK, WARN, ERROR = "OK", "WARN", "ERROR"


@dataclass(frozen=True)
class Diagnostic:
    level: str  # OK, WARN or ERROR (the names of diagnostic_msgs/DiagnosticStatus levels)
    message: str
    values: dict[str, str]


def reason_key(reason: str) -> str:
    """A bounded key for a free-text reason: numbers become N, details after " (" or ":" are dropped.

    'no reference gave a pose with >= 15 inliers (37 matches)' -> 'no reference gave a pose with >= N inliers'
    """
    head = reason.split(" (", 1)[0].split(":", 1)[0]
    return re.sub(r"\d+(\.\d+)?", "N", head).strip() or "unknown"


class RuntimeStats:
    """Thread-safe counters and windows: results are recorded on the worker thread, read by a diagnostics timer."""

    def __init__(self, window: int = 100, max_reasons: int = 16, min_success_ratio: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_reasons = max_reasons
        self._min_success_ratio = min_success_ratio
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._latencies: deque[float] = deque(maxlen=window)
        self._fix_times: deque[float] = deque(maxlen=window)
        self.successes = 0
        self.failures = 0
        self.failure_reasons: Counter[str] = Counter()

    def record_success(self, latency_s: float) -> None:
        with self._lock:
            self.successes += 1
            self._outcomes.append(True)
            self._latencies.append(float(latency_s))
            self._fix_times.append(self._clock())

    def record_failure(self, reason: str) -> None:
        key = reason_key(reason)
        with self._lock:
            self.failures += 1
            self._outcomes.append(False)
            if key not in self.failure_reasons and len(self.failure_reasons) >= self._max_reasons:
                key = "other"
            self.failure_reasons[key] += 1

    @property
    def success_ratio(self) -> float | None:
        """Over the window; None before the first result."""
        with self._lock:
            return sum(self._outcomes) / len(self._outcomes) if self._outcomes else None

    @property
    def rate_hz(self) -> float:
        """Fixes per second over the window of recent fixes (0 when fewer than two)."""
        with self._lock:
            if len(self._fix_times) < 2:
                return 0.0
            span = self._fix_times[-1] - self._fix_times[0]
            return (len(self._fix_times) - 1) / span if span > 0 else 0.0

    def latency_percentiles(self) -> tuple[float, float] | None:
        """(median, 95th percentile) of stamp-to-publish latency over the window, seconds."""
        with self._lock:
            if not self._latencies:
                return None
            median, p95 = np.percentile(np.fromiter(self._latencies, float), [50, 95])
            return float(median), float(p95)

    def diagnostic(self, map_loaded: bool, received: int = 0, dropped: int = 0, unmatched: int = 0,
                   extra: dict[str, str] | None = None) -> Diagnostic:
        """`received`/`dropped`: frames handed to / dropped by the worker; `unmatched`: images without CameraInfo;
        `extra`: more key-values (the navigation state)."""
        ratio, latency, rate = self.success_ratio, self.latency_percentiles(), self.rate_hz
        with self._lock:
            values = {"map_loaded": str(map_loaded), "frames_received": str(received),
                      "frames_dropped": str(dropped), "images_without_camera_info": str(unmatched),
                      "fixes": str(self.successes), "failures": str(self.failures),
                      "success_ratio": "n/a" if ratio is None else f"{ratio:.3f}", "rate_hz": f"{rate:.2f}",
                      "latency_median_s": "n/a" if latency is None else f"{latency[0]:.3f}",
                      "latency_p95_s": "n/a" if latency is None else f"{latency[1]:.3f}"}
            values.update(extra or {})
            values.update({f"failure: {k}": str(n) for k, n in self.failure_reasons.most_common()})
        if not map_loaded:
            return Diagnostic(ERROR, "no map loaded", values)
        if ratio is None and unmatched:
            return Diagnostic(WARN, "images arrive but no CameraInfo has their stamps", values)
        if ratio is None:
            return Diagnostic(OK, "waiting for images", values)
        if ratio < self._min_success_ratio:
            return Diagnostic(WARN, f"localizing {ratio:.0%} of processed frames", values)
        return Diagnostic(OK, f"localizing {ratio:.0%} of processed frames at {rate:.1f} Hz", values)
