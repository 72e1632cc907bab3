"""Checksums of fixed-size blocks of a file, checked lazily: a large map file is verified block by block the
first time its bytes are read, instead of hashing every file at each load."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np

DIGEST_BYTES = 32  # sha256


class CorruptBlock(ValueError):
    """A block whose bytes differ from the recorded checksum, or a file of the wrong size."""


class LazyBlockVerifier:
    """Verifies the blocks of one file on first read; a verified block is not hashed again. Thread-safe."""

    def __init__(self, path: str | Path, digests: np.ndarray, block_bytes: int, size: int):
        self.path = Path(path)
        self.digests = digests
        self.block_bytes = int(block_bytes)
        self.size = int(size)
        self.verified = np.zeros(len(digests), bool)
        self._lock = threading.Lock()
        if len(digests) != -(-self.size // self.block_bytes):
            raise CorruptBlock(f"{self.path.name}: {len(digests)} block checksums for {self.size} bytes")

    def check_size(self) -> None:
        actual = self.path.stat().st_size
        if actual != self.size:
            raise CorruptBlock(f"{self.path.name} has {actual} bytes, the map recorded {self.size} (truncated?)")

    def check_bytes(self, starts: np.ndarray, stops: np.ndarray) -> None:
        """Verify every block that the byte ranges [starts[i], stops[i]) touch (each stop > its start)."""
        starts, stops = np.asarray(starts, np.int64), np.asarray(stops, np.int64)
        if not len(starts):
            return
        first, last = starts // self.block_bytes, (stops - 1) // self.block_bytes
        if (last - first).max() <= 1:  # ranges shorter than a block: their first and last blocks are all
            blocks = np.unique(np.concatenate([first, last]))
        else:
            blocks = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)]))
        self.check_blocks(blocks)

    def check_all(self) -> None:
        self.check_blocks(np.arange(len(self.digests)))

    def check_blocks(self, blocks: np.ndarray) -> None:
        with self._lock:
            todo = blocks[~self.verified[blocks]]
            if not len(todo):
                return
            self.check_size()
            with open(self.path, "rb") as f:
                for b in todo:
                    f.seek(int(b) * self.block_bytes)
                    data = f.read(self.block_bytes)
                    if hashlib.sha256(data).digest() != self.digests[b].tobytes():
                        raise CorruptBlock(f"{self.path.name}: bytes {int(b) * self.block_bytes}-"
                                           f"{int(b) * self.block_bytes + len(data)} differ from their checksum")
                    self.verified[b] = True


class HashingWriter:
    """A write-only file wrapper that hashes the bytes written, block by block: the checksums of a map file
    come from the data as it was written, so that reading the file back verifies the disk (see map_format)."""

    def __init__(self, f, block_bytes: int):
        self.f = f
        self.block_bytes = int(block_bytes)
        self._digests: list[bytes] = []
        self._hash = hashlib.sha256()
        self._filled = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.f.write(view)
        while len(view):
            take = min(len(view), self.block_bytes - self._filled)
            self._hash.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.block_bytes:
                self._digests.append(self._hash.digest())
                self._hash, self._filled = hashlib.sha256(), 0
        return len(data)

    def digests(self) -> np.ndarray:
        """(blocks, 32) uint8, the last (shorter) block included; call once, after the last write."""
        if self._filled:
            self._digests.append(self._hash.digest())
            self._hash, self._filled = hashlib.sha256(), 0
        return np.frombuffer(b"".join(self._digests), np.uint8).reshape(-1, DIGEST_BYTES)


def save_npy_with_digests(path: str | Path, array: np.ndarray, block_bytes: int) -> np.ndarray:
    """np.save `array` to `path`; returns the block checksums of the bytes written."""
    with open(path, "wb") as f:
        writer = HashingWriter(f, block_bytes)
        np.save(writer, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    return writer.digests()
