"""A memory-mapped .npy file whose bytes are checked against block checksums the first time they are read:
opening it reads only the header, and a query reads (and verifies) only the rows it needs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .block_checksums import LazyBlockVerifier


class MappedArray:
    def __init__(self, path: str | Path, verifier: LazyBlockVerifier | None):
        """verifier None: no checksum checks (the caller chose not to verify)."""
        self.path = Path(path)
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)  # ValueError when truncated
        self.array: np.ndarray = array
        self.verifier = verifier
        # A file with no data rows is not memory-mapped by numpy (nothing to map): its data starts at the end.
        self._offset = int(getattr(array, "offset", self.path.stat().st_size - array.nbytes))
        self._row_bytes = int(array.itemsize * np.prod(array.shape[1:], dtype=np.int64))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def rows(self, index: np.ndarray) -> np.ndarray:
        """A copy of array[index] (index: int rows), each row's bytes verified first."""
        index = np.asarray(index, np.int64)
        if self.verifier is not None and len(index) and self._row_bytes:
            starts = self._offset + index * self._row_bytes
            self.verifier.check_bytes(starts, starts + self._row_bytes)
        return np.asarray(self.array[index])

    def read(self) -> np.ndarray:
        """The whole array, verified, in memory."""
        if self.verifier is not None:
            self.verifier.check_all()
        return np.array(self.array)
