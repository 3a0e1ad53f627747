"""One-time conversion of third-party feature-network checkpoints to safetensors (``mcm convert``).

Third-party weights are never loaded silently: the pickle is opened here, only when the user runs the
command, with ``torch.load(..., weights_only=True)`` (tensors only, no code), checked against our layout,
and written as safetensors that :func:`mcm.eval.i3d.load_i3d` / :func:`mcm.eval.fid.load_inception` read.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from mcm.eval.i3d import InceptionI3d

#: Prefixes that wrappers add to state-dict keys (DataParallel, Lightning).
STRIP_PREFIXES = ("module.", "model.")


def _read_state_dict(src: str | Path) -> dict[str, torch.Tensor]:
    src = Path(src)
    if not src.is_file():
        raise ValueError(f"convert: source checkpoint not found: {str(src)!r}")
    try:
        obj = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as err:  # unpicklable or non-tensor content
        raise ValueError(f"convert: {str(src)!r} is not a tensors-only state dict ({err})") from err
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"convert: {str(src)!r} does not hold a state dict of tensors")
    out = {}
    for key, value in obj.items():
        for prefix in STRIP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value.contiguous()
    return out


def _check_layout(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    bad = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or bad:
        raise ValueError(
            f"convert {what}: layout mismatch: missing {missing[:5]} ({len(missing)}), unexpected "
            f"{unexpected[:5]} ({len(unexpected)}), wrong shape {bad[:5]} ({len(bad)})"
        )


def convert_i3d(src: str | Path, dst: str | Path) -> int:
    """pytorch-i3d ``InceptionI3d`` state dict (.pt/.pth) -> safetensors; returns the number of tensors."""
    state = _read_state_dict(src)
    _check_layout(state, InceptionI3d().state_dict(), "i3d")
    return _write(state, dst, "i3d")


def convert_inception(src: str | Path, dst: str | Path) -> int:
    """torch-fidelity InceptionV3 FID weights (.pth) -> safetensors; returns the number of tensors.

    The layout is checked strictly when :func:`mcm.eval.fid.load_inception` builds the network.
    """
    return _write(_read_state_dict(src), dst, "inception")


def _write(state: dict[str, torch.Tensor], dst: str | Path, what: str) -> int:
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise ValueError(f"convert: output must end in .safetensors, got {str(dst)!r}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst), metadata={"format": "pt", "network": what})
    return len(state)
