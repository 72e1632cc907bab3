"""Where the map builder's shardable work runs: in this process, or on a Dask cluster (`pip install
s2dhm_ros[distributed]`). Both run the same task functions on the same work items and hand the results back in
input order, so a map built on a cluster is the map built here."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Protocol


class Engine(Protocol):
    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
        """fn(item, **kwargs) for every item; results in the order of `items`."""
        ...

    def close(self) -> None:
        ...


class LocalEngine:
    """Runs the tasks one after the other in this process."""

    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
        return (fn(item, **kwargs) for item in items)

    def close(self) -> None:
        pass


class DaskEngine:
    """Tasks on a Dask distributed scheduler: `address` is a scheduler ("tcp://host:8786"), or "local:N" for a
    LocalCluster of N single-threaded worker processes on this machine (what the tests use)."""

    def __init__(self, address: str):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:
            raise RuntimeError("a --scheduler needs Dask distributed: pip install 's2dhm_ros[distributed]' "
                               "(or pip install 'dask[distributed]')") from e
        self._cluster = None
        if address.startswith("local:"):
            try:
                workers = int(address.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"scheduler {address!r}: expected local:N with N workers, e.g. local:2") from None
            if workers < 1:
                raise ValueError(f"scheduler {address!r}: needs at least one worker")
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(address, timeout="30s")

    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
        futures = self.client.map(fn, list(items), pure=False, **kwargs)
        for future in futures:  # in order; a finished result is released from the cluster once read
            yield future.result()
            future.release()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def create_engine(scheduler: str | None) -> Engine:
    """None: this process; otherwise a Dask scheduler address or local:N."""
    return LocalEngine() if not scheduler else DaskEngine(scheduler)
