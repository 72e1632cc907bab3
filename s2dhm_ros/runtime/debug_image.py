"""A debug view of a query: its inlier matches drawn on the image, with the outcome written on it."""
from __future__ import annotations

import cv2
import numpy as np


def draw_inliers(image_rgb: np.ndarray, points2D: np.ndarray | None, text: str) -> np.ndarray:
    """RGB uint8 copy with a green dot per inlier (COLMAP pixel convention: centres at +0.5) and a caption."""
    out = np.ascontiguousarray(image_rgb).copy()
    radius = max(2, round(max(out.shape[:2]) / 300))
    for x, y in (np.empty((0, 2)) if points2D is None else np.asarray(points2D) - 0.5):
        cv2.circle(out, (int(round(x)), int(round(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    scale = max(0.5, max(out.shape[:2]) / 1000)
    cv2.putText(out, text, (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 1, cv2.LINE_AA)
    return out
