"""The image of each step: ``{registry}/{name}:{tag}`` from ``images/images.yaml``, the file ``make images`` builds
and pushes from, so that components and images always carry the same tag.

``MCM_IMAGE_REGISTRY`` and ``MCM_IMAGE_TAG`` override the file's registry and tag (read when a component module is
imported, i.e. when the pipeline is compiled).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

IMAGES_FILE = Path(__file__).resolve().parents[1] / "images" / "images.yaml"


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    if not IMAGES_FILE.is_file():
        raise FileNotFoundError(f"{IMAGES_FILE}: the image table (registry, tag, one image per step) is missing")
    return yaml.safe_load(IMAGES_FILE.read_text(encoding="utf-8"))


def image(step: str) -> str:
    """The pinned image reference of ``step`` (e.g. ``ghcr.io/mcm-project/mcm-distill:0.1.0``)."""
    table = _table()
    if step not in table["images"]:
        raise ValueError(f"images/images.yaml has no image for step {step!r} (steps: {sorted(table['images'])})")
    registry = os.environ.get("MCM_IMAGE_REGISTRY") or table["registry"]
    tag = os.environ.get("MCM_IMAGE_TAG") or str(table["tag"])
    return f"{registry.rstrip('/')}/{table['images'][step]['name']}:{tag}"
