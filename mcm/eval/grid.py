"""Where the video grid's GIFs of a method spec live inside an evaluation's output folder."""

from __future__ import annotations

import re

from mcm.eval.config import MethodSpec

GRID_DIR = "grid"


def slug(text: str) -> str:
    """File-name-safe form of a method key, e.g. 'MCM (ours)@4' -> 'mcm-ours-4'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def grid_file(spec: MethodSpec, index: int) -> str:
    """Relative path of the grid GIF of video ``index`` of a method (written by the rank that made it)."""
    return f"{GRID_DIR}/{slug(spec.key)}_{index:04d}.gif"
