"""``params.yaml``, the one source of the embedded default's settings, as the pipeline reads it.

The Makefile, ``dvc.yaml`` and the Kubeflow pipeline all read the same file. Overlays (``pipelines/params_tiny.yaml``
for the tests) are deep-merged over it: a mapping merges key by key, anything else (a list, a value) replaces.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
TINY = Path(__file__).with_name("params_tiny.yaml")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in (mappings key by key, other values replaced); neither is modified."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(path: str | Path = PARAMS, overlays: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The parameters of ``path`` with each overlay file deep-merged over them, in order."""
    params = _read(path)
    for overlay in overlays:
        params = deep_merge(params, _read(overlay))
    return params


def write_params(params: dict[str, Any], path: str | Path) -> Path:
    """Write ``params`` as a YAML file (the layout ``--config FILE --section NAME`` reads)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def _read(path: str | Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data
