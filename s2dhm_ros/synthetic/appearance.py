"""Simulated night appearance, the hard case of long-term localization (day map, night queries).

Works on any RGB uint8 image: the synthetic street's renderings and real photographs (the Strecha night test).
"""
from __future__ import annotations

import cv2
import numpy as np

# Light colours (linear RGB gains): street lighting is either sodium-vapour orange or cold LED/moonlight blue.
SODIUM = np.array([1.0, 0.62, 0.30])
BLUE = np.array([0.55, 0.70, 1.0])
HEADLIGHT = np.array([1.0, 0.95, 0.82])  # warm-white halogen


def headlight_falloff(height: int, width: int, depth: np.ndarray | None = None) -> np.ndarray:
    """Relative headlight illumination (H, W) in [0, 1].

    The beam is a Gaussian lobe around the bottom centre of the image (sigma 0.35 W across, 0.45 H up).
    With `depth` (metres; inf or <= 0 where there is no surface) it also falls off with the inverse square of the
    distance beyond 4 m, and the sky gets none."""
    x = (np.arange(width) + 0.5) / width - 0.5
    y = 1.0 - (np.arange(height) + 0.5) / height
    lobe = np.exp(-0.5 * ((x[None, :] / 0.35) ** 2 + (y[:, None] / 0.45) ** 2))
    if depth is None:
        return lobe
    d = np.asarray(depth, np.float64)
    valid = np.isfinite(d) & (d > 0)
    return lobe * np.where(valid, (4.0 / np.maximum(np.where(valid, d, 1.0), 4.0)) ** 2, 0.0)


def simulate_night(image_rgb: np.ndarray, rng: np.random.Generator, strength: float = 1.0,
                   headlight: bool = False, depth: np.ndarray | None = None) -> np.ndarray:
    """A day image as a night-time camera would see it (RGB uint8 in, RGB uint8 of the same shape out).

    In linear light (sRGB decoded with gamma 2.2), with s = `strength` in [0, 1]:
    1. exposure drop: ambient gain 1 - 0.88 s (-3 EV at s = 1);
    2. colour cast: multiplied by SODIUM (R 1.0, G 0.62, B 0.30) with probability 0.7, else BLUE
       (0.55, 0.70, 1.0), each gain jittered by +-5 %, blended with white by s;
    3. headlights (if `headlight`): adds the scene's reflectance times 0.6 s x `headlight_falloff` (depth-based
       when `depth` is given, else a radial lobe from the bottom centre) in HEADLIGHT colour;
    4. slight defocus/motion blur: Gaussian, sigma 0.8 s pixels;
    5. sensor noise, Poisson-Gaussian: shot noise of a sensor whose full scale is 1000/(1 + 3 s) electrons
       (gain-up at night) plus read noise sigma 0.004 s (of full scale);
    6. re-encoded with gamma 2.2, then a night tone curve y^(1 + 0.3 s) (crushed shadows).
    At s = 1 the mean intensity of daylight images drops to about 0.15-0.2 of the original, 0.2-0.4 with the
    headlights (the test accepts 0.1-0.5). Deterministic: the only randomness is drawn from `rng`.
    """
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
    s = float(np.clip(strength, 0.0, 1.0))
    h, w = image_rgb.shape[:2]
    albedo = (image_rgb.astype(np.float32) / 255.0) ** 2.2
    cast = SODIUM if rng.random() < 0.7 else BLUE
    cast = cast * rng.uniform(0.95, 1.05, 3)
    gain = (1.0 - 0.88 * s) * ((1.0 - s) + s * cast)
    light = albedo * gain.astype(np.float32)
    if headlight:
        beam = headlight_falloff(h, w, depth).astype(np.float32)[..., None]
        light += albedo * (0.6 * s) * beam * HEADLIGHT.astype(np.float32)
    sigma = 0.8 * s
    if sigma > 0:
        light = cv2.GaussianBlur(light, (0, 0), sigma)
    electrons = 1000.0 / (1.0 + 3.0 * s)
    light = rng.poisson(np.clip(light, 0, 1) * electrons).astype(np.float32) / electrons
    light += rng.normal(0.0, 0.004 * s, light.shape).astype(np.float32)
    out = np.clip(light, 0.0, 1.0) ** (1 / 2.2 * (1.0 + 0.3 * s))
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
