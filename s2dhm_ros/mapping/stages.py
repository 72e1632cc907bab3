"""Wall time and peak resident memory of each stage of a map build: what the map-build benchmark prints, so that
growth with the number of references is visible stage by stage."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..process_memory import resident_bytes


@dataclass
class StageTiming:
    name: str
    seconds: float
    peak_rss_bytes: int  # highest resident memory of this process seen during the stage (sampled every 10 ms)


class StageMeter:
    def __init__(self, interval_s: float = 0.01):
        self.stages: list[StageTiming] = []
        self._interval_s = interval_s

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        peak = [resident_bytes()]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(self._interval_s):
                peak[0] = max(peak[0], resident_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            self.stages.append(StageTiming(name, seconds, max(peak[0], resident_bytes())))
