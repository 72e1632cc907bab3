"""The latest-frame worker under a camera flood: bounded, counts its drops, always ends on the newest frame.

Deterministic: each inference runs until the test releases it (`Gate`), and the rate limit reads a fake clock that
only the test moves, so no outcome depends on thread scheduling or on the machine's load. The real-time timeouts
only guard against a hang.
"""
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from s2dhm_ros.runtime.latest_frame_worker import LatestFrameWorker

HANG_S = 10.0
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


class Gate:
    """A `process` whose inferences start on the worker thread and end only when the test releases them. It keeps
    the frames' indices, never the frames."""

    def __init__(self):
        self._started = queue.Queue()
        self._release = threading.Semaphore(0)

    def __call__(self, item):
        self._started.put(getattr(item, "index", item))
        if not self._release.acquire(timeout=HANG_S):
            raise TimeoutError("the test never released this inference")

    def next_started(self):
        """The index of the next inference to start (blocks until it has started)."""
        return self._started.get(timeout=HANG_S)

    def release(self):
        self._release.release()


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def flood(worker, gate, num_frames, frames_per_inference, observe):
    """A camera that sends `frames_per_inference` frames during each inference (30 Hz and 200 ms: 6). Returns the
    indices of the frames processed, in order."""
    processed = []
    for i in range(num_frames):
        worker.submit(Frame(i))
        observe()
        if i == 0 or i % frames_per_inference == 0:
            if i > 0:
                gate.release()  # the running inference ends: the worker takes the newest frame, i
            processed.append(gate.next_started())
    while True:  # the camera has stopped: the running inference ends, then the pending frame (if any) runs
        had_pending = worker.counters.pending  # the worker is held in the gate: nothing moves meanwhile
        gate.release()
        if not had_pending:
            break
        processed.append(gate.next_started())
    assert worker.wait_idle(timeout=HANG_S)
    return processed


def test_30hz_flood_with_slow_localizer_is_bounded_and_ends_on_the_latest_frame():
    gate = Gate()
    pending, alive = [], []
    with LatestFrameWorker(gate) as worker:
        processed = flood(worker, gate, 45, 6, lambda: (pending.append(worker.counters.pending),
                                                          alive.append(Frame.alive)))
        counters = worker.counters

    assert max(pending) == 1  # the queue is a single slot
    assert max(alive) == 2  # the one being processed and the pending one (the one it replaced is freed)
    assert processed == [0, 6, 12, 18, 24, 30, 36, 42, 44]  # always the newest frame, and the last one
    assert counters.submitted == 45 and counters.processed == 9 and counters.dropped == 36
    assert counters.errors == 0 and counters.pending == 0 and not counters.busy


def test_no_growth_over_a_long_flood():
    """Live frames stay flat however long the flood lasts."""
    gate = Gate()
    alive = []
    with LatestFrameWorker(gate) as worker:
        processed = flood(worker, gate, 300, 10, lambda: alive.append(Frame.alive))
    assert max(alive) == 2 and max(alive[200:]) == max(alive[:100])
    assert processed[-1] == 299 and len(processed) == 31
    assert worker.counters.processed + worker.counters.dropped == 300
    assert Frame.alive == 0


def test_rate_limit_spaces_inferences():
    """64 Hz: each inference starts at least 1/64 s of the injected clock after the previous one. The wall clock
    runs past 1/64 s while the fake one stands still, so a worker that read the wall clock would fail."""
    clock = FakeClock()
    starts = []
    with LatestFrameWorker(lambda item: starts.append((item, clock())), max_rate_hz=64.0, clock=clock) as worker:
        worker.submit("a")
        assert worker.wait_idle(timeout=HANG_S)  # the first one starts at once
        clock.now = 1 / 256
        worker.submit("b")
        clock.now = 1 / 128
        worker.submit("c")  # replaces b
        assert not worker.wait_idle(timeout=0.1)  # too early on the injected clock: c waits
        clock.now = 1 / 64
        assert worker.wait_idle(timeout=HANG_S)
        clock.now = 1.0
        worker.submit("d")  # long after the last start: at once
        assert worker.wait_idle(timeout=HANG_S)
    assert starts == [("a", 0.0), ("c", 1 / 64), ("d", 1.0)]
    assert worker.counters.dropped == 1


def test_no_rate_limit_and_bad_rate():
    clock = FakeClock()  # never moves: without a limit nothing waits for it
    starts = []
    with LatestFrameWorker(starts.append, clock=clock) as worker:
        for item in range(3):
            worker.submit(item)
            assert worker.wait_idle(timeout=HANG_S)
    assert starts == [0, 1, 2]
    with pytest.raises(ValueError, match="max_rate_hz must be >= 0"):
        LatestFrameWorker(starts.append, max_rate_hz=-1.0)


def test_a_failing_frame_is_counted_and_the_worker_goes_on():
    errors, done = [], []

    def process(item):
        if item == "bad":
            raise RuntimeError("boom")
        done.append(item)

    with LatestFrameWorker(process, on_error=lambda item, e: errors.append((item, str(e)))) as worker:
        worker.submit("bad")
        assert worker.wait_idle(timeout=HANG_S)
        worker.submit("good")
        assert worker.wait_idle(timeout=HANG_S)
    assert errors == [("bad", "boom")]
    assert done == ["good"]
    assert worker.counters.errors == 1 and worker.counters.processed == 2


def test_stop_discards_the_pending_frame_and_joins():
    gate = Gate()
    worker = LatestFrameWorker(gate, name="stop-test").start()
    worker.submit(1)
    assert gate.next_started() == 1
    worker.submit(2)
    worker.stop(timeout=0)  # asked to stop while 1 runs: returns after its timeout, the inference goes on
    assert "stop-test" in [t.name for t in threading.enumerate()]
    gate.release()
    worker.stop(timeout=HANG_S)
    assert "stop-test" not in [t.name for t in threading.enumerate()]
    assert worker.counters.processed == 1 and worker.counters.dropped == 0  # 2 was never started


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
