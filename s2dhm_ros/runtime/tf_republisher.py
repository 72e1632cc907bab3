"""Keeps the last map→odom (or map→base_frame) alive between fixes, as AMCL and slam_toolbox do.

A fix comes seconds after its image on a CPU (one query takes ~2.6 s), so a transform stamped image stamp +
`tf_future_dating_s` is already in the past when it is sent, and tf2 refuses to extrapolate past the newest
map→odom: every lookup "now" (Nav2's costmaps, controllers, behaviours) fails until the next fix. Like AMCL's
transform_tolerance, the node therefore resends the last transform from a timer at `tf_republish_rate_hz`, stamped
(clock now) + `tf_future_dating_s`, so that the newest map→odom is always up to `tf_future_dating_s` ahead of now.

With republishing on, the transform of a new fix is sent stamped the same way (now + future dating), not at its
image stamp: republished stamps already reach now + future dating, and a new value stamped image stamp +
future dating (seconds earlier) would sit between older-valued stamps, making tf2 interpolate back and forth
between the old and the new map→odom for the length of the query latency. The correction is thus applied from the
moment it is known; map→odom only absorbs odometry drift, which changes little over one query.

Plain Python (no ROS): the node calls `on_fix` from its worker thread, `tick` from a timer and `clear` from the
~/reload_map service, so every method is thread-safe.
"""
from __future__ import annotations

import dataclasses
import threading

from .fix import Transform
from .pose_output import future_dated_stamp_ns


class TfRepublisher:
    """The map→odom to send for a fix, and the one to resend on each timer tick.

    `rate_hz` = 0 disables republishing: `on_fix` then returns the fix's transform unchanged (stamped image stamp
    + future dating) and `tick` never returns anything.
    """

    def __init__(self, rate_hz: float, future_dating_s: float) -> None:
        if rate_hz < 0:
            raise ValueError(f"tf_republish_rate_hz must be >= 0 (0: off), got {rate_hz}")
        future_dated_stamp_ns(0, future_dating_s)  # validates it (>= 0)
        self.rate_hz = float(rate_hz)
        self.future_dating_s = float(future_dating_s)
        self._lock = threading.Lock()
        self._last: Transform | None = None
        self._last_sent_ns: int | None = None
        self._generation = 0

    @property
    def enabled(self) -> bool:
        return self.rate_hz > 0

    @property
    def period_s(self) -> float | None:
        """Timer period; None when republishing is off."""
        return 1.0 / self.rate_hz if self.enabled else None

    @property
    def generation(self) -> int:
        """Changes on each `clear`: a fix computed against a map that was replaced since is not kept."""
        with self._lock:
            return self._generation

    def warning(self) -> str | None:
        """Why the settings leave gaps in the TF (the period is not shorter than the future dating), or None."""
        if self.enabled and self.period_s >= self.future_dating_s:
            return (f"tf_republish_rate_hz {self.rate_hz:g} resends map->odom every {self.period_s:g} s, not more "
                    f"often than tf_future_dating_s ({self.future_dating_s:g} s) reaches ahead: lookups at the "
                    f"current time will fail between resends; raise the rate or the future dating")
        return None

    def on_fix(self, tf: Transform, now_ns: int, generation: int | None = None) -> Transform:
        """The transform to send for a new fix, kept for the timer when republishing is on.

        `generation` is `self.generation` read before the localization started; if `clear` was called since (the
        map was reloaded), the transform is still returned for this one send but not kept.
        """
        if not self.enabled:
            return tf
        with self._lock:
            stamped = dataclasses.replace(tf, stamp_ns=self._stamp(now_ns))
            if generation is None or generation == self._generation:
                self._last = tf
            self._last_sent_ns = stamped.stamp_ns
            return stamped

    def tick(self, now_ns: int) -> Transform | None:
        """On the timer: the last transform stamped now + future dating.

        None when republishing is off, before the first fix, after `clear`, and when the clock has not moved since
        the last send (a paused /clock under use_sim_time): tf2 listeners drop a repeated stamp with a
        TF_REPEATED_DATA warning.
        """
        with self._lock:
            if not self.enabled or self._last is None:
                return None
            stamp_ns = self._stamp(now_ns)
            if stamp_ns == self._last_sent_ns:
                return None
            self._last_sent_ns = stamp_ns
            return dataclasses.replace(self._last, stamp_ns=stamp_ns)

    def clear(self) -> None:
        """Forget the last transform (a new map may have another origin: no TF is better than a wrong one)."""
        with self._lock:
            self._last = None
            self._generation += 1

    @property
    def last(self) -> Transform | None:
        """The transform being republished (as computed for its fix), or None."""
        with self._lock:
            return self._last

    def _stamp(self, now_ns: int) -> int:
        return future_dated_stamp_ns(now_ns, self.future_dating_s)
