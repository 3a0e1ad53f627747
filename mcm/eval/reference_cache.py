"""Where a cached reference statistic lives: its key is the hash of what it depends on (protocol, files)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mcm.eval.config import EvalConfig


def file_fingerprint(paths: list[Path]) -> list[list[Any]]:
    """[path, size] of each file (-1 when missing): what a cached statistic of those files depends on."""
    return [[str(p), p.stat().st_size if p.is_file() else -1] for p in paths]


def reference_cache_path(cfg: EvalConfig, name: str, desc: dict[str, Any], set_name: str) -> Path:
    """``<cache>/<set>-<metric>-<hash of desc>.safetensors``."""
    digest = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]
    cache = cfg.reference_cache_dir or (cfg.out_dir / "reference_stats")
    return Path(cache) / f"{set_name}-{name}-{digest}.safetensors"
