"""The latest-frame worker under a camera flood: bounded, counts its drops, always ends on the newest frame."""
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from s2dhm_ros.runtime.latest_frame_worker import LatestFrameWorker

ROOT = Path(__file__).resolve().parents[1]


class Frame:
    """A 1 MB frame whose live instances are counted (to prove the worker holds at most two)."""

    alive = 0
    lock = threading.Lock()

    def __init__(self, index):
        self.index = index
        self.pixels = np.zeros(1 << 20, np.uint8)
        with Frame.lock:
            Frame.alive += 1
        weakref.finalize(self, Frame._died)

    @staticmethod
    def _died():
        with Frame.lock:
            Frame.alive -= 1


def flood(worker, rate_hz, duration_s, observe):
    """Submit fresh frames at `rate_hz` (as a camera callback would) and call observe() after each."""
    n = int(rate_hz * duration_s)
    start = time.monotonic()
    for i in range(n):
        worker.submit(Frame(i))
        observe()
        time.sleep(max(0.0, start + (i + 1) / rate_hz - time.monotonic()))
    return n


def test_30hz_flood_with_slow_localizer_is_bounded_and_ends_on_the_latest_frame():
    processed = []

    def slow_localizer(frame):
        time.sleep(0.2)
        processed.append(frame.index)

    pending, alive = [], []
    with LatestFrameWorker(slow_localizer) as worker:
        n = flood(worker, 30.0, 1.5, lambda: (pending.append(worker.counters.pending), alive.append(Frame.alive)))
        assert worker.wait_idle(timeout=2.0)
        counters = worker.counters

    assert max(pending) <= 1  # the queue is a single slot
    assert max(alive) <= 3  # the one being processed, the pending one, the one being submitted
    assert counters.submitted == n == counters.processed + counters.dropped
    assert counters.errors == 0 and counters.pending == 0 and not counters.busy
    assert 5 <= counters.processed <= 10  # 1.5 s of 200 ms inferences (+ the last frame)
    assert counters.dropped == n - counters.processed >= 30
    assert processed[-1] == n - 1  # the newest frame is always processed
    assert processed == sorted(processed)


def test_no_growth_over_a_long_flood():
    """Counters of pending frames and live frames stay flat however long the flood lasts."""
    alive = []
    with LatestFrameWorker(lambda frame: time.sleep(0.05)) as worker:
        for i in range(300):
            worker.submit(Frame(i))
            alive.append(Frame.alive)
        worker.wait_idle(timeout=2.0)
    assert max(alive) <= 3
    assert worker.counters.processed + worker.counters.dropped == 300


def test_rate_limit_spaces_inferences():
    starts = []
    with LatestFrameWorker(lambda item: starts.append(time.monotonic()), max_rate_hz=5.0) as worker:
        flood(worker, 30.0, 1.0, lambda: None)
        worker.wait_idle(timeout=1.0)
    assert 4 <= len(starts) <= 7
    assert np.min(np.diff(starts)) >= 0.19


def test_a_failing_frame_is_counted_and_the_worker_goes_on():
    errors, done = [], []

    def process(item):
        if item == "bad":
            raise RuntimeError("boom")
        done.append(item)

    with LatestFrameWorker(process, on_error=lambda item, e: errors.append((item, str(e)))) as worker:
        worker.submit("bad")
        worker.wait_idle(timeout=1.0)
        worker.submit("good")
        worker.wait_idle(timeout=1.0)
    assert errors == [("bad", "boom")]
    assert done == ["good"]
    assert worker.counters.errors == 1 and worker.counters.processed == 2


def test_stop_discards_the_pending_frame_and_joins():
    worker = LatestFrameWorker(lambda item: time.sleep(0.1), name="stop-test").start()
    worker.submit(1)
    time.sleep(0.02)
    worker.submit(2)
    worker.stop(timeout=1.0)
    assert worker.counters.processed == 1
    assert "stop-test" not in [t.name for t in threading.enumerate()]


def test_stop_waits_for_the_frame_in_progress():
    """Ctrl-C mid-frame: stop() returns only once the inference has finished, never leaving it running."""
    started, finished = threading.Event(), threading.Event()

    def slow(item):
        started.set()
        time.sleep(0.5)
        finished.set()

    worker = LatestFrameWorker(slow).start()
    worker.submit(1)
    assert started.wait(5.0)
    assert worker.stop() and finished.is_set() and worker.stopping
    assert worker.counters.processed == 1


def test_a_worker_left_running_lets_the_program_end_after_its_frame():
    """A program that ends without stop(): the frame in progress completes (a daemon thread would be killed inside
    it, which aborts the process when that is native code), then the worker ends by itself (no hang)."""
    code = ("import time\n"
            "from s2dhm_ros.runtime.latest_frame_worker import LatestFrameWorker\n"
            "w = LatestFrameWorker(lambda item: (time.sleep(1.0), print('frame done', flush=True))).start()\n"
            "w.submit(1)\n"
            "time.sleep(0.2)\n"
            "print('main done', flush=True)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["main", "done", "frame", "done"]
