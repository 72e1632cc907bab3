"""Ctrl-C as a stop request: a real SIGINT mid-stream ends a map-build task stream at the next task boundary, with
no KeyboardInterrupt anywhere, the task in progress still handed back; a second SIGINT changes nothing."""
import os
import signal

import pytest

from s2dhm_ros.mapping.engine import LocalEngine
from s2dhm_ros.runtime.stop_request import StoppableEngine, StopRequest, StopRequested


@pytest.fixture
def stop():
    previous = signal.getsignal(signal.SIGINT)
    yield StopRequest().install(signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


def test_sigint_ends_the_stream_after_the_task_in_progress(stop):
    ran = []

    def task(item, interrupt_at):
        ran.append(item)
        if item in interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this task runs (twice: an impatient user)
            os.kill(os.getpid(), signal.SIGINT)
        return item * 10

    results = []
    with pytest.raises(StopRequested):
        for result in StoppableEngine(LocalEngine(), stop).map(task, range(6), interrupt_at={2}):
            results.append(result)
    assert stop.requested
    assert ran == [0, 1, 2] and results == [0, 10, 20]  # task 2's result kept; tasks 3-5 never started


def test_a_stream_started_after_the_request_runs_nothing(stop):
    os.kill(os.getpid(), signal.SIGINT)
    ran = []
    stream = StoppableEngine(LocalEngine(), stop).map(ran.append, range(3))
    with pytest.raises(StopRequested):
        next(stream)
    assert ran == []


def test_without_a_request_the_stream_is_the_engines():
    results = list(StoppableEngine(LocalEngine(), StopRequest()).map(lambda x, k: x + k, range(4), k=1))
    assert results == [1, 2, 3, 4]
