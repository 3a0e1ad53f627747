"""Drawing the small world's clips: clean renders, the styled rendering, and V's degradations.

Everything is numpy, float32 in [0, 1], layout (F, H, W, 3); shapes are drawn from signed distance
functions with a one-pixel anti-aliased edge, so a clip is an exact function of its parameters. Sizes are
given for a 32-pixel frame and scale with the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcm.world.spec import COLOUR_RGB, COLOURS, DIRECTION_VECTORS, DIRECTIONS, SHAPES, Combo

#: Reference frame size the pixel constants below are given for.
REFERENCE_SIZE = 32
#: Object half-size range (pixels at 32x32).
SIZE_RANGE = (5.0, 7.0)
#: Speed range (pixels per frame at 32x32).
SPEED_RANGE = (1.4, 2.0)
#: Background grey level range and the vertical gradient's amplitude.
BACKGROUND_RANGE = (0.10, 0.26)
BACKGROUND_GRADIENT = 0.06
#: Per-channel jitter of the object colour.
COLOUR_JITTER = 0.04
#: V's degradations: Gaussian blur sigma (pixels at 32), contrast factor around the mean, noise sigma.
BLUR_RANGE = (0.9, 1.3)
CONTRAST_RANGE = (0.55, 0.70)
NOISE_SIGMA = 0.03
#: Watermark: opacity, and its mask at 32x32 (1 = drawn), placed at WATERMARK_ORIGIN (row, col).
WATERMARK_ALPHA = 0.6
WATERMARK_ORIGIN = (26, 19)
WATERMARK_MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        [1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1],
        [1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
    dtype=np.float32,
)
#: Styled rendering: outline width (pixels at 32), background tint and stripe period/contrast.
STYLE_OUTLINE = 1.3
STYLE_BACKGROUND = (0.93, 0.88, 0.80)
STYLE_STRIPE_PERIOD = 6.0
STYLE_STRIPE_CONTRAST = 0.10


@dataclass(frozen=True)
class ClipParams:
    """Everything that fixes one clean clip besides its combination."""

    size: float
    speed: float
    start: tuple[float, float]  # (x, y) of the centre in frame 0, pixels
    colour: tuple[float, float, float]
    background: float


@dataclass(frozen=True)
class Degradation:
    """V's defects of one clip (what public video does to a clean one)."""

    blur: float
    contrast: float
    noise_seed: int


def draw_params(rng: np.random.Generator, combo: Combo, num_frames: int, size: int) -> ClipParams:
    """Random size, speed, start (the object stays inside the frame on every frame), colour, background."""
    scale = size / REFERENCE_SIZE
    half = rng.uniform(*SIZE_RANGE) * scale
    speed = rng.uniform(*SPEED_RANGE) * scale
    travel = speed * (num_frames - 1)
    dx, dy = DIRECTION_VECTORS[DIRECTIONS[combo.direction]]
    lo, hi = half + 1.0, size - half - 1.0
    centre = []
    for d in (dx, dy):
        if d > 0:
            centre.append(rng.uniform(lo, max(lo, hi - travel)))
        elif d < 0:
            centre.append(rng.uniform(min(hi, lo + travel), hi))
        else:
            centre.append(rng.uniform(lo, hi))
    base = np.asarray(COLOUR_RGB[COLOURS[combo.colour]], dtype=np.float64)
    colour = np.clip(base + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0.0, 1.0)
    return ClipParams(
        size=float(half), speed=float(speed), start=(float(centre[0]), float(centre[1])),
        colour=tuple(float(v) for v in colour), background=float(rng.uniform(*BACKGROUND_RANGE)),
    )


def draw_degradation(rng: np.random.Generator) -> Degradation:
    return Degradation(
        blur=float(rng.uniform(*BLUR_RANGE)), contrast=float(rng.uniform(*CONTRAST_RANGE)),
        noise_seed=int(rng.integers(2**31)),
    )


def centres(combo: Combo, params: ClipParams, num_frames: int) -> np.ndarray:
    """(F, 2) object centre (x, y) per frame."""
    dx, dy = DIRECTION_VECTORS[DIRECTIONS[combo.direction]]
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    return np.asarray(params.start)[None] + params.speed * t * np.asarray([dx, dy])[None]


def shape_sdf(shape: str, x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) of a shape of half-size ``half`` centred at 0."""
    if shape == "circle":
        return np.sqrt(x * x + y * y) - half
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) - 0.85 * half
    if shape == "triangle":  # apex (0, -h), base corners (+-h, 0.8h); max over the edges' signed distances
        h = 1.1 * half
        norm = np.sqrt(1.8**2 + 1.0)
        bottom = y - 0.8 * h
        right = (1.8 * x - (y + h)) / norm
        left = (-1.8 * x - (y + h)) / norm
        return np.maximum(np.maximum(bottom, right), left)
    if shape == "cross":
        arm = 0.36 * half
        bar_h = np.maximum(np.abs(x) - half, np.abs(y) - arm)
        bar_v = np.maximum(np.abs(x) - arm, np.abs(y) - half)
        return np.minimum(bar_h, bar_v)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(coords, coords, indexing="xy")  # x varies along columns


def object_alpha(combo: Combo, params: ClipParams, num_frames: int, size: int) -> np.ndarray:
    """(F, H, W) coverage of the object per frame (anti-aliased)."""
    gx, gy = _grid(size)
    out = np.empty((num_frames, size, size), dtype=np.float32)
    for f, (cx, cy) in enumerate(centres(combo, params, num_frames)):
        sdf = shape_sdf(SHAPES[combo.shape], gx - cx, gy - cy, params.size)
        out[f] = np.clip(0.5 - sdf, 0.0, 1.0)
    return out


def background(params: ClipParams, size: int) -> np.ndarray:
    """(H, W, 3) dark background with a vertical gradient."""
    ramp = np.linspace(-BACKGROUND_GRADIENT, BACKGROUND_GRADIENT, size, dtype=np.float32)[:, None, None]
    return np.clip(params.background + ramp + np.zeros((size, size, 3), np.float32), 0.0, 1.0)


def render_clean(combo: Combo, params: ClipParams, num_frames: int, size: int) -> np.ndarray:
    """The clean clip (F, H, W, 3) in [0, 1]."""
    alpha = object_alpha(combo, params, num_frames, size)[..., None]
    bg = background(params, size)[None]
    colour = np.asarray(params.colour, dtype=np.float32)[None, None, None]
    return (bg * (1.0 - alpha) + colour * alpha).astype(np.float32)


def render_styled(combo: Combo, params: ClipParams, num_frames: int, size: int) -> np.ndarray:
    """The styled ("anime") rendering: flat colour, dark outline, light striped background."""
    gx, gy = _grid(size)
    scale = size / REFERENCE_SIZE
    stripes = STYLE_STRIPE_CONTRAST * (np.sin(2 * np.pi * (gx + gy) / (STYLE_STRIPE_PERIOD * scale)) > 0)
    bg = np.clip(np.asarray(STYLE_BACKGROUND, np.float32)[None, None] - stripes[..., None], 0, 1)
    colour = np.asarray(params.colour, dtype=np.float32)
    out = np.empty((num_frames, size, size, 3), dtype=np.float32)
    for f, (cx, cy) in enumerate(centres(combo, params, num_frames)):
        sdf = shape_sdf(SHAPES[combo.shape], gx - cx, gy - cy, params.size)
        fill = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
        line = np.clip(STYLE_OUTLINE * scale * 0.5 + 0.5 - np.abs(sdf), 0.0, 1.0)[..., None]
        frame = bg * (1 - fill) + colour * fill
        out[f] = frame * (1 - line)
    return out


def gaussian_blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (F, H, W, 3) with reflected borders."""
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    out = frames
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * np.take(padded, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def watermark_mask(size: int) -> np.ndarray:
    """(H, W) watermark coverage at its fixed place (scaled nearest from the 32x32 design)."""
    scale = size // REFERENCE_SIZE if size >= REFERENCE_SIZE else 1
    mask = np.kron(WATERMARK_MASK, np.ones((scale, scale), np.float32))
    out = np.zeros((size, size), np.float32)
    r, c = WATERMARK_ORIGIN[0] * size // REFERENCE_SIZE, WATERMARK_ORIGIN[1] * size // REFERENCE_SIZE
    h, w = min(mask.shape[0], size - r), min(mask.shape[1], size - c)
    out[r:r + h, c:c + w] = mask[:h, :w]
    return out


def add_watermark(frames: np.ndarray) -> np.ndarray:
    alpha = WATERMARK_ALPHA * watermark_mask(frames.shape[1])[None, ..., None]
    return frames * (1 - alpha) + alpha


def degrade(frames: np.ndarray, deg: Degradation, watermark: bool = True) -> np.ndarray:
    """V's defects: blur, lower contrast, the watermark at its fixed place, sensor noise."""
    scale = frames.shape[1] / REFERENCE_SIZE
    out = gaussian_blur(frames, deg.blur * scale)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = mean + deg.contrast * (out - mean)
    if watermark:
        out = add_watermark(out)
    noise = np.random.default_rng(deg.noise_seed).normal(0.0, NOISE_SIGMA, out.shape).astype(np.float32)
    return np.clip(out + noise, 0.0, 1.0)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)
