"""The small world's datasets, each a deterministic function of (world seed, set, index).

Sets (``SET_IDS``): ``videos`` (V, training clips of seen combinations, degraded like public video),
``images`` (M, clean single frames; a share of rows are degraded and carry aesthetic scores below the
LAION-aes threshold), ``styled`` (the styled rendering), ``seen`` and ``zero_shot`` (the evaluation prompt
sets: seen combinations with fresh clips, and the held-out combinations), and ``networks`` (the clips the
project's own networks train on; seen combinations only). Item ``i`` of a set is drawn from its own
generator ``default_rng([seed, set_id, i])``, so a set of n items is a prefix of a set of n + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from mcm.config.base import StrictConfig
from mcm.world import render
from mcm.world.spec import Combo, caption, held_out_combos, seen_combos

SET_IDS = {"videos": 1, "images": 2, "styled": 3, "seen": 4, "zero_shot": 5, "networks": 6}
SetName = Literal["videos", "images", "styled", "seen", "zero_shot", "networks"]
#: LAION-aes threshold the image set's scores are drawn around (mcm.data.images keeps >= 6).
AESTHETIC_THRESHOLD = 6.0
#: Aesthetic score ranges of good rows and of the degraded rows below the threshold.
GOOD_AESTHETIC = (6.2, 7.6)
LOW_AESTHETIC = (3.5, 5.8)
#: Index offset of the generator a fresh degradation of an undegraded item is drawn from.
DEGRADATION_OFFSET = 1 << 30
#: Caption variants drawn from (a large prime keeps every template/synonym combination reachable).
CAPTION_VARIANTS = 2**20


class WorldConfig(StrictConfig):
    """What ``mcm world`` generates (sizes of each set, frame size, seed)."""

    seed: int = Field(0, description="World seed: the same seed always gives the same files.")
    size: int = Field(32, description="Frame side in pixels (32 or 64).")
    num_frames: int = Field(8, ge=2, description="Frames per clip.")
    num_videos: int = Field(1024, ge=1, description="Clips in V (the WebVid stand-in).")
    num_images: int = Field(512, ge=1, description="Rows of M (the LAION-aes stand-in), low-aesthetic ones included.")
    low_aesthetic_fraction: float = Field(0.2, ge=0, le=1, description="Share of M rows degraded, scored < 6.")
    num_styled: int = Field(256, ge=1, description="Images of the styled set.")
    prompts_per_set: int = Field(64, ge=1, description="Prompts of each evaluation set (seen, zero_shot).")
    fps: float = Field(8.0, gt=0, description="Frame rate written into V's files (clips are already sampled).")
    crf: int = Field(20, ge=0, le=51, description="x264 rate factor of V's files and the reference clips.")

    def model_post_init(self, __context) -> None:
        if self.size not in (32, 64):
            raise ValueError(f"world.size={self.size}: expected 32 or 64")


@dataclass(frozen=True)
class WorldItem:
    """One item of a set: its combination, caption, clip parameters and (for degraded items) degradation."""

    set: str
    index: int
    combo: Combo
    caption: str
    params: render.ClipParams
    degradation: Optional[render.Degradation]
    frame: int  # the frame an image set shows
    aesthetic: float

    def clean(self, cfg: WorldConfig) -> np.ndarray:
        """The clean clip (F, H, W, 3) float in [0, 1]."""
        return render.render_clean(self.combo, self.params, cfg.num_frames, cfg.size)

    def pixels(self, cfg: WorldConfig) -> np.ndarray:
        """What the set holds, float in [0, 1]: (F, H, W, 3) for video sets, (H, W, 3) for image sets."""
        if self.set == "styled":
            clip = render.render_styled(self.combo, self.params, cfg.num_frames, cfg.size)
        else:
            clip = self.clean(cfg)
            if self.degradation is not None:
                clip = render.degrade(clip, self.degradation)
        return clip[self.frame] if self.set in ("images", "styled") else clip

    def render(self, cfg: WorldConfig, look: str) -> np.ndarray:
        """The whole clip (F, H, W, 3) in [0, 1] as ``look``: as_set, clean, degraded or styled."""
        if look == "as_set":
            return self.pixels(cfg)
        if look == "clean":
            return self.clean(cfg)
        if look == "styled":
            return render.render_styled(self.combo, self.params, cfg.num_frames, cfg.size)
        if look == "degraded":
            deg = self.degradation or render.draw_degradation(_rng(cfg, self.set, self.index + DEGRADATION_OFFSET))
            return render.degrade(self.clean(cfg), deg)
        raise ValueError(f"look={look!r}: expected as_set, clean, degraded or styled")


def _rng(cfg: WorldConfig, name: str, index: int) -> np.random.Generator:
    if name not in SET_IDS:
        raise ValueError(f"set {name!r}: expected one of {sorted(SET_IDS)}")
    return np.random.default_rng([cfg.seed, SET_IDS[name], index])


def combo_of(name: str, index: int, rng: np.random.Generator) -> Combo:
    """Evaluation sets cycle through their combinations in order; training sets draw seen ones at random."""
    if name == "zero_shot":
        pool = held_out_combos()
        return pool[index % len(pool)]
    pool = seen_combos()
    if name == "seen":
        return pool[index % len(pool)]
    return pool[int(rng.integers(len(pool)))]


def item(cfg: WorldConfig, name: SetName, index: int) -> WorldItem:
    """Item ``index`` of set ``name``."""
    rng = _rng(cfg, name, index)
    combo = combo_of(name, index, rng)
    text = caption(combo, int(rng.integers(CAPTION_VARIANTS)))
    params = render.draw_params(rng, combo, cfg.num_frames, cfg.size)
    degradation, aesthetic, frame = None, float("nan"), 0
    if name in ("videos",):
        degradation = render.draw_degradation(rng)
    if name in ("images", "styled"):
        frame = int(rng.integers(cfg.num_frames))
        low = name == "images" and rng.uniform() < cfg.low_aesthetic_fraction
        aesthetic = float(rng.uniform(*(LOW_AESTHETIC if low else GOOD_AESTHETIC)))
        if low:
            degradation = render.draw_degradation(rng)
    return WorldItem(name, index, combo, text, params, degradation, frame, aesthetic)


def items(cfg: WorldConfig, name: SetName, count: int, start: int = 0) -> list[WorldItem]:
    return [item(cfg, name, i) for i in range(start, start + count)]


def set_size(cfg: WorldConfig, name: SetName) -> int:
    """The configured number of items of a set written to disk."""
    return {"videos": cfg.num_videos, "images": cfg.num_images, "styled": cfg.num_styled,
            "seen": cfg.prompts_per_set, "zero_shot": cfg.prompts_per_set, "networks": cfg.num_videos}[name]


def clips(cfg: WorldConfig, name: SetName, count: int, start: int = 0,
          look: Literal["as_set", "clean", "degraded", "styled"] = "as_set") -> tuple[np.ndarray, list[WorldItem]]:
    """uint8 (N, F, H, W, 3) clips of items ``start .. start + count`` of a set, rendered as ``look``:
    ``as_set`` what a video set holds, ``clean`` the clean render, ``degraded`` with V's defects (the item's
    own degradation or one drawn for it), ``styled`` the styled rendering (whole clips for image sets)."""
    its = items(cfg, name, count, start)
    if look == "as_set" and name in ("images", "styled"):
        raise ValueError(f"set {name!r} holds images: ask for look='clean', 'degraded' or 'styled' clips")
    out = np.empty((count, cfg.num_frames, cfg.size, cfg.size, 3), np.uint8)
    for k, it in enumerate(its):
        out[k] = render.to_uint8(it.render(cfg, look))
    return out, its
