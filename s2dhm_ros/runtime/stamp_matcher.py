"""Pairs each image with the CameraInfo of the same stamp (within a tolerance), whichever arrives first.

A few messages of each kind are kept (bounded), so an image whose CameraInfo never comes costs nothing after
`capacity` newer ones.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

ImageT = TypeVar("ImageT")
InfoT = TypeVar("InfoT")


class StampMatcher(Generic[ImageT, InfoT]):
    def __init__(self, tolerance_ns: int = 0, capacity: int = 10) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._tolerance_ns = int(tolerance_ns)
        self._capacity = capacity
        self._images: OrderedDict[int, ImageT] = OrderedDict()
        self._infos: OrderedDict[int, InfoT] = OrderedDict()
        self.unmatched_images = 0  # images given up on: no CameraInfo came with their stamp

    def add_image(self, stamp_ns: int, image: ImageT) -> tuple[int, ImageT, InfoT] | None:
        """Returns (stamp, image, info) when a CameraInfo with this stamp is waiting, else keeps the image."""
        info_stamp = self._closest(self._infos, stamp_ns)
        if info_stamp is None:
            self.unmatched_images += self._keep(self._images, stamp_ns, image)
            return None
        return stamp_ns, image, self._infos.pop(info_stamp)

    def add_info(self, stamp_ns: int, info: InfoT) -> tuple[int, ImageT, InfoT] | None:
        image_stamp = self._closest(self._images, stamp_ns)
        if image_stamp is None:
            self._keep(self._infos, stamp_ns, info)
            return None
        return image_stamp, self._images.pop(image_stamp), info

    def __len__(self) -> int:
        return len(self._images) + len(self._infos)

    def _closest(self, waiting: OrderedDict[int, object], stamp_ns: int) -> int | None:
        if not waiting:
            return None
        best = min(waiting, key=lambda s: abs(s - stamp_ns))
        return best if abs(best - stamp_ns) <= self._tolerance_ns else None

    def _keep(self, waiting: OrderedDict[int, object], stamp_ns: int, msg: object) -> int:
        """Keep `msg`, evicting the oldest beyond capacity; returns how many were evicted."""
        waiting[stamp_ns] = msg
        waiting.move_to_end(stamp_ns)
        evicted = max(0, len(waiting) - self._capacity)
        for _ in range(evicted):
            waiting.popitem(last=False)
        return evicted
