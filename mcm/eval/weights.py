"""Reading feature-network weights: safetensors only; anything else is converted once with ``mcm convert``."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def load_safetensors_weights(path: str | Path, field: str, convert_hint: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path``; a clear ValueError naming ``field`` for a wrong format or a missing file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{field} must be a .safetensors file, got {str(path)!r}: {convert_hint}")
    if not path.is_file():
        raise ValueError(f"{field} file not found: {str(path)!r}")
    return load_file(str(path))
