"""The five networks as one frozen object (``EvalNetworks``), and building, saving and loading them.

On disk each network is ``folder/<name>/model.safetensors`` + ``folder/<name>/config.json`` (architecture,
training config, world config, training seconds), written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mcm.world.evalnets.attributes import AttributeNet
from mcm.world.evalnets.config import (
    BUILD_SEED_OFFSETS,
    CONFIG_FILE,
    FORMAT_VERSION,
    INFER_CHUNK,
    NET_NAMES,
    WEIGHTS_FILE,
    EvalNetTrainConfig,
)
from mcm.world.evalnets.frame import FrameNet
from mcm.world.evalnets.layers import resize, resize_video
from mcm.world.evalnets.spot import SpotNet
from mcm.world.evalnets.video import VideoNet


def build_network(name: str, widths: list[int], motion_widths: Optional[list[int]] = None) -> nn.Module:
    """The (untrained) network ``name`` with the given conv widths."""
    if name == "attributes":
        return AttributeNet(widths, list(motion_widths or []))
    if motion_widths:
        raise ValueError(f"motion_widths is for the attribute network only, not {name!r}")
    if name == "fvd":
        return VideoNet(widths)
    if name == "frame":
        return FrameNet(widths)
    if name == "watermark":
        return SpotNet(widths, pooled=False)
    if name == "style":
        return SpotNet(widths, pooled=True)
    raise ValueError(f"unknown evaluation network {name!r}; expected one of {NET_NAMES}")


def seeded_network(name: str, arch: dict, seed: int) -> nn.Module:
    """``build_network(name, **arch)`` initialised from ``seed`` (the global torch generator is restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_network(name, **arch)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class EvalNetworks:
    """The five frozen evaluation networks (eval mode, no gradients) on one device.

    Not the discriminator's features: see ``mcm.world.evalnets``. Inputs are float in [0, 1], videos
    (N, F, 3, H, W) with F >= 2 and frames (M, 3, H, W); H = W of any size (resized to INPUT_SIZE).
    """

    def __init__(self, modules: dict[str, nn.Module], configs: dict[str, dict], device: str | torch.device = "cpu"):
        missing = [n for n in NET_NAMES if n not in modules]
        if missing:
            raise ValueError(f"EvalNetworks: missing networks {missing}")
        self.device = torch.device(device)
        self.modules = {n: modules[n].to(self.device).eval().requires_grad_(False) for n in NET_NAMES}
        self.configs = configs
        self.fvd_dim: int = self.modules["fvd"].dim
        self.frame_dim: int = self.modules["frame"].dim

    def to(self, device: str | torch.device) -> "EvalNetworks":
        """Move the networks to ``device`` (in place); returns self."""
        self.device = torch.device(device)
        self.modules = {n: m.to(self.device) for n, m in self.modules.items()}
        return self

    @staticmethod
    def _check_float(x: torch.Tensor, what: str) -> None:
        if not torch.is_floating_point(x):
            raise ValueError(f"{what} must be float in [0, 1], got dtype {x.dtype} (divide uint8 pixels by 255)")

    def _videos(self, videos: torch.Tensor) -> torch.Tensor:
        self._check_float(videos, "videos")
        if videos.ndim != 5 or videos.shape[2] != 3 or videos.shape[-1] != videos.shape[-2]:
            raise ValueError(f"videos must be (N, F, 3, H, W) with H == W, got {tuple(videos.shape)}")
        if videos.shape[1] < 2:
            raise ValueError(f"videos need at least 2 frames, got {videos.shape[1]}")
        return resize_video(videos.to(self.device, torch.float32))

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        self._check_float(frames, "frames")
        if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[-1] != frames.shape[-2]:
            raise ValueError(f"frames must be (M, 3, H, W) with H == W, got {tuple(frames.shape)}")
        return resize(frames.to(self.device, torch.float32))

    @staticmethod
    def _chunked(fn: Callable, x: torch.Tensor):
        outs = [fn(x[i:i + INFER_CHUNK]) for i in range(0, x.shape[0], INFER_CHUNK)]
        if isinstance(outs[0], dict):
            return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        return torch.cat(outs)

    @torch.no_grad()
    def attribute_logits(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (N, 4) of "shape", "colour", "direction" (indices into spec's SHAPES, COLOURS, DIRECTIONS)."""
        return self._chunked(self.modules["attributes"], self._videos(videos))

    @torch.no_grad()
    def fvd_features(self, videos: torch.Tensor) -> torch.Tensor:
        """(N, fvd_dim) features of our Fréchet video distance (compare videos of the same frame count)."""
        return self._chunked(self.modules["fvd"].features, self._videos(videos))

    @torch.no_grad()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(M, frame_dim) features of our frame-quality distance to M (FID)."""
        return self._chunked(self.modules["frame"].features, self._frames(frames))

    @torch.no_grad()
    def watermark_prob(self, frames: torch.Tensor) -> torch.Tensor:
        """(M,) probability that V's fixed-place watermark is present."""
        return torch.sigmoid(self._chunked(self.modules["watermark"], self._frames(frames)))

    @torch.no_grad()
    def style_prob(self, frames: torch.Tensor) -> torch.Tensor:
        """(M,) probability that the frame is the styled rendering."""
        return torch.sigmoid(self._chunked(self.modules["style"], self._frames(frames)))


def build_eval_networks(seed: int = 0) -> EvalNetworks:
    """Randomly initialised networks with the default architectures (for tests of code that uses them)."""
    defaults = EvalNetTrainConfig()
    modules, configs = {}, {}
    for name in NET_NAMES:
        arch = defaults.net(name).arch()
        modules[name] = seeded_network(name, arch, seed * len(NET_NAMES) + BUILD_SEED_OFFSETS[name])
        configs[name] = {"name": name, "arch": arch, "trained": False}
    return EvalNetworks(modules, configs)


def write_network(folder: Path, name: str, module: nn.Module, config: dict) -> None:
    """folder/name/{model.safetensors, config.json}, written to a temporary folder and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    for stale in folder.glob(f".{name}.tmp-*"):  # left by an interrupted run
        shutil.rmtree(stale)
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    tmp.mkdir()
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS_FILE), metadata={"name": name, "format_version": str(FORMAT_VERSION)})
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if final.exists():
        old = folder / f".{name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)


def save_eval_networks(nets: EvalNetworks, folder: str | Path) -> None:
    """Write each network to ``folder/<name>/model.safetensors`` + ``config.json`` (atomically per network)."""
    for name in NET_NAMES:
        config = {**nets.configs[name], "name": name, "format_version": FORMAT_VERSION}
        write_network(Path(folder), name, nets.modules[name], config)


def network_complete(folder: str | Path, name: str) -> bool:
    d = Path(folder) / name
    return (d / WEIGHTS_FILE).is_file() and (d / CONFIG_FILE).is_file()


def load_eval_networks(folder: str | Path, device: str | torch.device = "cpu") -> EvalNetworks:
    """Load the five networks from ``folder`` (safetensors only); a missing file is named in the error."""
    folder = Path(folder)
    hint = "train them with mcm.world.evalnets.train_eval_networks"
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluation networks folder not found: {str(folder)!r} ({hint})")
    modules, configs = {}, {}
    for name in NET_NAMES:
        for fname in (CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / name / fname).is_file():
                raise FileNotFoundError(f"evaluation network {name!r}: file not found: "
                                        f"{str(folder / name / fname)!r} ({hint})")
        config = json.loads((folder / name / CONFIG_FILE).read_text())
        if config.get("name") != name or not isinstance(config.get("arch"), dict):
            raise ValueError(f"{str(folder / name / CONFIG_FILE)!r} is not the config of evaluation network {name!r}")
        module = build_network(name, **config["arch"])
        state = load_file(str(folder / name / WEIGHTS_FILE))
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(f"{str(folder / name / WEIGHTS_FILE)!r} does not match its config.json: {e}") from e
        modules[name], configs[name] = module, config
    return EvalNetworks(modules, configs, device)
