"""Procedural textures for the synthetic street, seeded and non-repetitive so that local features match.

Every texture mixes multi-octave value noise (stains, grain) with structure drawn by OpenCV (windows, bricks,
shop signs with random lettering, posters, lane markings), each element varied by the generator, so that no two
patches of the street look alike. Optionally, facades start from crops of real photographs.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

RGB = tuple[int, int, int]


def noise(rng: np.random.Generator, height: int, width: int, octaves: int = 6, base_cells: int = 4,
          persistence: float = 0.55) -> np.ndarray:
    """Multi-octave value noise in [0, 1], float32 (H, W): random grids upsampled bicubically and summed."""
    out = np.zeros((height, width), np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        cells = base_cells * 2 ** octave
        gh = max(2, int(round(cells * height / max(height, width))))
        gw = max(2, int(round(cells * width / max(height, width))))
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= persistence
    out /= total
    return np.clip((out - out.min()) / max(float(np.ptp(out)), 1e-6), 0.0, 1.0)


def tint(gray: np.ndarray, colour: Sequence[float], contrast: float = 0.5) -> np.ndarray:
    """A float RGB image (H, W, 3) in [0, 255]: `colour` modulated by a [0, 1] pattern."""
    g = 1.0 - contrast / 2 + contrast * gray[..., None]
    return np.clip(g * np.asarray(colour, np.float32), 0, 255)


def _random_colour(rng: np.random.Generator, lo: int = 40, hi: int = 230) -> RGB:
    return tuple(int(c) for c in rng.integers(lo, hi, 3))


def _random_text(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(string.ascii_uppercase + string.digits), n))


def draw_sign(img: np.ndarray, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int) -> None:
    """A shop sign or poster: a coloured panel with random text and shapes, drawn in place."""
    bg = _random_colour(rng)
    cv2.rectangle(img, (x0, y0), (x1, y1), bg, -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), _random_colour(rng, 0, 80), max(1, (y1 - y0) // 12))
    h, w = y1 - y0, x1 - x0
    for _ in range(int(rng.integers(2, 6))):  # shapes: circles and bars
        c = _random_colour(rng)
        if rng.random() < 0.5:
            cv2.circle(img, (int(rng.integers(x0, x1)), int(rng.integers(y0, y1))),
                       int(rng.integers(2, max(3, h // 3))), c, -1, cv2.LINE_AA)
        else:
            xa, ya = int(rng.integers(x0, x1)), int(rng.integers(y0, y1))
            cv2.rectangle(img, (xa, ya), (min(x1, xa + w // 4), min(y1, ya + h // 5)), c, -1)
    text = _random_text(rng, int(rng.integers(3, 9)))
    font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = 0.8 * min(w / max(tw, 1), h / max(th, 1))
    thickness = max(1, int(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    org = (x0 + max(0, (w - tw) // 2), y0 + (h + th) // 2)
    cv2.putText(img, text, org, font, scale, _random_colour(rng, 0, 255), thickness, cv2.LINE_AA)


def _window(img: np.ndarray, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int, frame: RGB) -> None:
    """One window: frame, glazing with a noisy reflection, sometimes curtains, shutters or mullions."""
    h, w = y1 - y0, x1 - x0
    glass = tint(noise(rng, h, w, octaves=4, base_cells=2), _random_colour(rng, 20, 120), 0.9)
    img[y0:y1, x0:x1] = glass.astype(np.uint8)
    style = rng.random()
    if style < 0.3:  # curtains
        cw = int(w * rng.uniform(0.2, 0.5))
        c = _random_colour(rng, 80, 250)
        cv2.rectangle(img, (x0, y0), (x0 + cw, y1), c, -1)
        cv2.rectangle(img, (x1 - cw, y0), (x1, y1), c, -1)
    elif style < 0.45:  # closed shutters with slats
        c = np.array(_random_colour(rng, 60, 200))
        for yy in range(y0, y1, max(2, h // 14)):
            cv2.line(img, (x0, yy), (x1, yy), tuple(int(v) for v in c * rng.uniform(0.6, 1.0)), max(1, h // 28))
    t = max(1, min(h, w) // 12)
    cv2.rectangle(img, (x0, y0), (x1, y1), frame, t)
    if rng.random() < 0.7:  # mullions
        cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), frame, max(1, t // 2))
        if rng.random() < 0.5:
            cv2.line(img, (x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2), frame, max(1, t // 2))
    cv2.line(img, (x0 - t, y1 + t), (x1 + t, y1 + t), tuple(min(255, v + 40) for v in frame), t)  # sill


def _bricks(img: np.ndarray, rng: np.random.Generator, texel_m: float) -> None:
    """A brick bond: every brick a slightly different shade, mortar lines between."""
    h, w = img.shape[:2]
    bh, bw = max(3, int(0.075 / texel_m)), max(6, int(0.24 / texel_m))
    shades = rng.uniform(0.75, 1.2, (h // bh + 2, w // bw + 2)).astype(np.float32)
    rows = np.arange(h) // bh
    cols = (np.arange(w)[None, :] + (rows[:, None] % 2) * (bw // 2)) // bw
    img[:] = np.clip(img * shades[rows[:, None], cols][..., None], 0, 255)
    mortar = ((np.arange(h) % bh) == 0)[:, None] | (((np.arange(w)[None, :] + (rows[:, None] % 2) * (bw // 2))
                                                      % bw) == 0)
    img[mortar] = img[mortar] * 0.55 + 90


def facade_texture(rng: np.random.Generator, width_m: float, height_m: float, texel_m: float = 0.03,
                   photo: np.ndarray | None = None) -> np.ndarray:
    """A building front (RGB uint8, rows top→bottom): wall (plaster, bricks or a photo crop), floors of windows,
    a ground floor with doors, shop signs and posters."""
    h, w = max(8, int(round(height_m / texel_m))), max(8, int(round(width_m / texel_m)))
    if photo is not None:
        wall = photo_crop(rng, photo, h, w).astype(np.float32)
    else:
        wall = tint(noise(rng, h, w, octaves=7, base_cells=3), _random_colour(rng, 90, 230), 0.45)
        wall += (rng.standard_normal((h, w, 1)) * 6).astype(np.float32)  # plaster grain
        if rng.random() < 0.45:
            _bricks(wall, rng, texel_m)
    img = np.clip(wall, 0, 255).astype(np.uint8)
    floor_h = rng.uniform(2.8, 3.6)
    n_floors = max(1, int(height_m / floor_h))
    frame = _random_colour(rng, 30, 250)
    bays = max(1, int(width_m / rng.uniform(2.0, 3.5)))
    bay_w = width_m / bays
    win_w, win_h = rng.uniform(0.35, 0.65) * bay_w, rng.uniform(1.1, 1.8)
    for f in range(1, n_floors):  # upper floors: a grid of windows, each different
        for b in range(bays):
            if rng.random() < 0.08:
                continue
            xc = (b + 0.5) * bay_w + rng.normal(0, 0.05)
            x0, x1 = int((xc - win_w / 2) / texel_m), int((xc + win_w / 2) / texel_m)
            y1 = int((height_m - (f * floor_h + 0.9)) / texel_m)
            y0 = int(y1 - win_h / texel_m)
            if y0 > 2 and x0 > 2 and x1 < w - 2:
                _window(img, rng, x0, y0, x1, y1, frame)
        if rng.random() < 0.5:  # a cornice line between floors
            yy = int((height_m - f * floor_h) / texel_m)
            cv2.line(img, (0, yy), (w, yy), _random_colour(rng, 60, 240), max(1, int(0.12 / texel_m)))
    # Ground floor: doors, shop windows, signs above them, posters.
    gy = h - 1
    for b in range(bays):
        x0, x1 = int((b * bay_w + 0.3) / texel_m), int(((b + 1) * bay_w - 0.3) / texel_m)
        if x1 - x0 < 6:
            continue
        if rng.random() < 0.35:  # door
            dx0 = int((x0 + x1) / 2 - 0.5 / texel_m)
            dx1 = int((x0 + x1) / 2 + 0.5 / texel_m)
            cv2.rectangle(img, (dx0, gy - int(2.2 / texel_m)), (dx1, gy), _random_colour(rng, 20, 160), -1)
            cv2.circle(img, (dx1 - int(0.12 / texel_m), gy - int(1.1 / texel_m)), max(1, int(0.05 / texel_m)),
                       (220, 200, 120), -1)
        else:  # shop window
            _window(img, rng, x0, gy - int(2.4 / texel_m), x1, gy - int(0.5 / texel_m), frame)
        if rng.random() < 0.6:
            sy1 = gy - int(2.6 / texel_m)
            draw_sign(img, rng, x0, sy1 - int(rng.uniform(0.4, 0.8) / texel_m), x1, sy1)
        if rng.random() < 0.3:
            px = int(rng.integers(max(1, x0), max(2, x1 - int(0.7 / texel_m))))
            draw_sign(img, rng, px, gy - int(1.9 / texel_m), px + int(0.6 / texel_m), gy - int(1.0 / texel_m))
    return img


def photo_crop(rng: np.random.Generator, photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random crop of `photo` with the aspect of (height, width), resized to that size (RGB uint8)."""
    ph, pw = photo.shape[:2]
    scale = min(ph / height, pw / width) * rng.uniform(0.5, 1.0)
    ch, cw = max(2, int(height * scale)), max(2, int(width * scale))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    interp = cv2.INTER_AREA if ch > height else cv2.INTER_LINEAR
    return cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (width, height), interpolation=interp)


def load_photos(folder: Path | None, max_photos: int = 8, max_side: int = 1024) -> list[np.ndarray]:
    """RGB images found as */images/*.jpg (the layout of ../shared/data/strecha) or *.jpg under `folder`,
    downscaled; an empty list when the folder is None or absent, so callers fall back to procedural textures."""
    if folder is None or not Path(folder).is_dir():
        return []
    paths = sorted(Path(folder).glob("*/images/*.jpg")) or sorted(Path(folder).glob("*.jpg"))
    photos = []
    for p in paths[:max_photos]:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        s = max_side / max(bgr.shape[:2])
        if s < 1:
            bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        photos.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return photos


def surface_texture(rng: np.random.Generator, width_m: float, height_m: float, colour: RGB,
                    texel_m: float = 0.03) -> np.ndarray:
    """Noisy material (metal, plastic, painted wood) with scratches and stickers: for poles and boxes."""
    h, w = max(4, int(round(height_m / texel_m))), max(4, int(round(width_m / texel_m)))
    img = tint(noise(rng, h, w, octaves=6, base_cells=2), colour, 0.6)
    img += (rng.standard_normal((h, w, 1)) * 8).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 8))):  # scratches
        p = rng.integers(0, [w, h], (2, 2))
        cv2.line(img, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), _random_colour(rng), 1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):  # stickers
        sw, sh = max(3, w // 3), max(3, h // 8)
        x0, y0 = int(rng.integers(0, max(1, w - sw))), int(rng.integers(0, max(1, h - sh)))
        draw_sign(img, rng, x0, y0, x0 + sw, y0 + sh)
    return img


def ground_texture(rng: np.random.Generator, x0: float, y0: float, width_m: float, height_m: float,
                   centreline: np.ndarray, road_half_width: float, texel_m: float = 0.05) -> np.ndarray:
    """The street plane seen from above (rows along +y from y0, columns along +x from x0): asphalt with patches,
    cracks, lane markings, crossings and manholes along `centreline` ((N, 2) metres), paving tiles elsewhere."""
    h, w = int(round(height_m / texel_m)), int(round(width_m / texel_m))
    def px(pts):  # pixel coordinates with 4 fractional bits (cv2 shift=4)
        return np.round((np.asarray(pts) - [x0, y0]) / texel_m * 16).astype(np.int32)
    sidewalk = tint(noise(rng, h, w, octaves=7, base_cells=8), (175, 170, 160), 0.35)
    tile = max(4, int(0.4 / texel_m))  # paving tiles, each a slightly different shade
    shades = rng.uniform(0.8, 1.15, (h // tile + 1, w // tile + 1)).astype(np.float32)
    sidewalk *= shades[np.arange(h)[:, None] // tile, np.arange(w)[None, :] // tile][..., None]
    grout = ((np.arange(h) % tile) == 0)[:, None] | ((np.arange(w) % tile) == 0)[None, :]
    sidewalk[grout] *= 0.6
    asphalt = tint(noise(rng, h, w, octaves=8, base_cells=8), (95, 95, 98), 0.7)
    asphalt += (rng.standard_normal((h, w, 1)) * 10).astype(np.float32)  # grain
    road_mask = np.zeros((h, w), np.uint8)
    cv2.polylines(road_mask, [px(centreline)], False, 255, int(2 * road_half_width / texel_m), cv2.LINE_AA, 4)
    a = (road_mask.astype(np.float32) / 255)[..., None]
    img = np.clip(asphalt * a + sidewalk * (1 - a), 0, 255).astype(np.uint8)
    length = np.cumsum(np.r_[0, np.linalg.norm(np.diff(centreline, axis=0), axis=1)])
    normal = np.gradient(centreline, axis=0)[:, ::-1] * [-1, 1]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    for _ in range(int(length[-1] / 6)):  # asphalt patches and cracks
        i = int(rng.integers(0, len(centreline)))
        c = centreline[i] + normal[i] * rng.uniform(-road_half_width, road_half_width)
        if rng.random() < 0.4:
            size = rng.uniform(0.4, 2.0, 2) / texel_m
            shade = int(rng.integers(50, 130))
            cv2.ellipse(img, tuple(int(v) for v in px(c) // 16), tuple(int(v) for v in size),
                        float(rng.uniform(0, 180)), 0, 360, (shade, shade, shade + 3), -1, cv2.LINE_AA)
        else:
            pts = c + np.cumsum(rng.normal(0, 0.4, (int(rng.integers(3, 9)), 2)), axis=0)
            cv2.polylines(img, [px(pts)], False, (40, 40, 42), 1, cv2.LINE_AA, 4)
    white = (235, 235, 225)
    for side in (-1, 1):  # edge lines
        edge = centreline + side * normal * (road_half_width - 0.35)
        cv2.polylines(img, [px(edge)], False, white, max(1, int(0.15 / texel_m)), cv2.LINE_AA, 4)
    dash = (length % 9.0) < 3.0  # dashed centre line: 3 m dashes every 9 m
    for seg in np.split(np.arange(len(centreline)), np.flatnonzero(np.diff(dash.astype(int))) + 1):
        if dash[seg[0]] and len(seg) > 1:
            cv2.polylines(img, [px(centreline[seg])], False, white, max(1, int(0.15 / texel_m)), cv2.LINE_AA, 4)
    for s in np.arange(rng.uniform(15, 35), length[-1], rng.uniform(45, 70)):  # zebra crossings
        i = int(np.searchsorted(length, s))
        if i >= len(centreline):
            break
        tangent = normal[i][::-1] * [1, -1]
        for k in np.arange(-road_half_width + 0.5, road_half_width - 0.5, 1.0):
            p = centreline[i] + normal[i] * k
            q = [p - tangent * 1.5 + normal[i] * 0.25, p + tangent * 1.5 + normal[i] * 0.25,
                 p + tangent * 1.5 - normal[i] * 0.25, p - tangent * 1.5 - normal[i] * 0.25]
            cv2.fillPoly(img, [px(q)], white, cv2.LINE_AA, 4)
    for _ in range(int(length[-1] / 15)):  # manholes and drains
        i = int(rng.integers(0, len(centreline)))
        c = px(centreline[i] + normal[i] * rng.uniform(-road_half_width, road_half_width))
        r = int(0.35 / texel_m * 16)
        cv2.circle(img, tuple(int(v) for v in c), r, (60, 58, 55), -1, cv2.LINE_AA, 4)
        cv2.circle(img, tuple(int(v) for v in c), r, (30, 30, 30), 2, cv2.LINE_AA, 4)
        for k in range(-2, 3):
            cv2.line(img, (int(c[0] - r * 0.7), int(c[1] + k * r * 0.25)), (int(c[0] + r * 0.7),
                     int(c[1] + k * r * 0.25)), (35, 35, 35), 1, cv2.LINE_AA, 4)
    return img
