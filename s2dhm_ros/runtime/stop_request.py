"""Ctrl-C as a request that long work honours between its work items, never as an exception raised anywhere.

Python's own SIGINT handler raises KeyboardInterrupt at whatever bytecode the main thread is running. That is not
safe to catch: when it lands inside code run by `exec` of a string (rosbags compiles its message classes that way
each time a bag is opened, which the map builder does for every image), CPython records the interrupt as
unhandled even though a caller catches it, and a `python -m` program then kills itself with SIGINT at exit
(status -2, not the 130 it returned; CPython's Py_RunMain/exit_sigint). It can also land in cleanup (a `finally`),
and a second Ctrl-C lands there for sure. So the handler here only records the request, every further signal is a
no-op, and the work checks the request at its own boundaries (`check`), raising `StopRequested` there.

The request is a plain attribute, not a `threading.Event`: a handler runs between any two bytecodes of the main
thread, including those of a handler already running, and `Event.set` takes a non-reentrant lock, so a second
Ctrl-C arriving inside the first handler's `set` deadlocked the process (seen in CI; reproduced by a storm of
signals, test/test_runtime_stop_request.py). Assigning True takes no lock and other threads see it.
"""
from __future__ import annotations

import signal
from typing import Any, Callable, Iterable, Iterator

from ..mapping.engine import Engine


class StopRequested(Exception):
    """Raised by `StopRequest.check` once a stop was requested: the work ends at a boundary it chose."""


class StopRequest:
    def __init__(self) -> None:
        self._requested = False

    def install(self, signum: int = signal.SIGINT) -> "StopRequest":
        """Make `signum` request the stop (call from the main thread, as `signal.signal` requires)."""
        signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._requested = True

    @property
    def requested(self) -> bool:
        return self._requested

    def check(self) -> None:
        if self._requested:
            raise StopRequested("stop requested")


class StoppableEngine:
    """An `Engine` whose task streams end with `StopRequested` at the first task boundary after the request: the
    result of the task in progress is still handed back (e.g. the features of the image being extracted get
    cached), the next one is not asked for."""

    def __init__(self, engine: Engine, stop: StopRequest) -> None:
        self._engine = engine
        self._stop = stop

    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
        self._stop.check()
        for result in self._engine.map(fn, items, **kwargs):
            yield result
            self._stop.check()

    def close(self) -> None:
        self._engine.close()
