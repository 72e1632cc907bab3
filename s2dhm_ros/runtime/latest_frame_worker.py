"""Inference that never falls behind the camera: a single worker thread that processes only the latest frame.

The executor's callbacks only `submit`; a frame that arrives while another is still waiting replaces it and is
counted as dropped, so memory is bounded (one pending frame) and the result is never older than one inference.
An optional rate limit spaces the starts of successive inferences.

Shutdown never abandons an inference: the thread is not a daemon, and `stop` waits for the frame in progress. A
daemon thread still inside native code (pycolmap, torch) when the interpreter finalizes is killed as it takes the
GIL back, which unwinds through C++ frames and aborts the process (SIGABRT, exit 134, seen on Ctrl-C mid-frame).
A worker its owner forgot to stop ends by itself once the main thread has finished (checked every
`IDLE_POLL_S`), after its current frame, so it never keeps the process alive either.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

IDLE_POLL_S = 0.25  # how often an idle worker checks that the main thread is still running


@dataclass(frozen=True)
class WorkerCounters:
    submitted: int
    processed: int  # including those that raised
    dropped: int  # replaced by a newer frame before being processed
    errors: int
    pending: int  # 0 or 1
    busy: bool


class LatestFrameWorker(Generic[T]):
    """Runs `process(item)` on a background thread for the most recent submitted item only.

    `on_error(item, exc)` is called (on the worker thread) when `process` raises; the worker keeps running.
    `max_rate_hz` <= 0 means no rate limit.
    """

    def __init__(self, process: Callable[[T], None], max_rate_hz: float = 0.0,
                 on_error: Callable[[T, Exception], None] | None = None, name: str = "s2dhm-inference",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_rate_hz < 0:
            raise ValueError(f"max_rate_hz must be >= 0, got {max_rate_hz}")
        self._process = process
        self._on_error = on_error
        self._min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: tuple[T] | None = None  # a 1-tuple so that None is a valid item
        self._busy = False
        self._stopping = False
        self._next_start = float("-inf")
        self._submitted = self._processed = self._dropped = self._errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=False)

    def start(self) -> "LatestFrameWorker[T]":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Finish the inference in progress (if any), discard the pending frame and join the thread.

        Waits for the frame in progress however long it takes unless `timeout` is given; returns whether the
        thread has ended (False only when `timeout` ran out first: the caller must not exit the process then).
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once `stop` was called: a `process` in progress may skip what it would still send."""
        with self._cond:
            return self._stopping

    def __enter__(self) -> "LatestFrameWorker[T]":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, item: T) -> bool:
        """Hand over a new frame; returns False if it replaced a frame still waiting (which is counted dropped)."""
        with self._cond:
            self._submitted += 1
            replaced = self._pending is not None
            if replaced:
                self._dropped += 1
            self._pending = (item,)
            self._cond.notify_all()
            return not replaced

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    @property
    def counters(self) -> WorkerCounters:
        with self._cond:
            return WorkerCounters(self._submitted, self._processed, self._dropped, self._errors,
                                  int(self._pending is not None), self._busy)

    def _next_item(self) -> tuple[T] | None:
        with self._cond:
            while not self._stopping:
                if self._pending is not None:
                    wait = self._next_start - self._clock()
                    if wait <= 0:
                        item, self._pending = self._pending, None
                        self._busy = True
                        self._next_start = self._clock() + self._min_interval
                        return item
                    self._cond.wait(min(wait, IDLE_POLL_S))
                elif not threading.main_thread().is_alive():
                    return None  # the program ended without stopping us: do not keep the process alive
                else:
                    self._cond.wait(IDLE_POLL_S)
            return None

    def _run(self) -> None:
        while (item := self._next_item()) is not None:
            try:
                self._process(item[0])
            except Exception as e:  # the worker must survive any failure of one frame
                with self._cond:
                    self._errors += 1
                if self._on_error is not None:
                    self._on_error(item[0], e)
            finally:
                with self._cond:
                    self._busy = False
                    self._processed += 1
                    self._cond.notify_all()
