"""Inception-v1 I3D (Kinetics-400), the FVD feature network [paper ref. 59], written for this project.

Parameter names and shapes follow the public pytorch-i3d ``InceptionI3d`` layout (modules ``Conv3d_1a_7x7``
... ``Mixed_5c``, ``logits``; each ``Unit3D`` holds ``conv3d`` and ``bn``), so a checkpoint in that layout,
converted once to safetensors by ``mcm convert i3d``, loads with every key matched. Convolutions and max
pools use TensorFlow "SAME" padding computed from the input size, as in the original.

Input (B, 3, T, H, W) in [-1, 1]; output: the 400 Kinetics logits (B, 400), averaged over the remaining
time steps (one for the standard 16x224x224 clip). The final average pool is the original (2, 7, 7) window,
clipped to the feature map so that small test inputs also run; for 16x224x224 input the result is identical.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mcm.eval.weights import load_safetensors_weights

#: Kinetics-400 classes: the FVD feature dimension.
NUM_KINETICS_CLASSES = 400
#: BatchNorm settings of the original (TensorFlow) I3D.
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
#: Window of the final average pool (time, height, width) in the original architecture.
LOGITS_POOL = (2, 7, 7)
#: (name, in_channels, [b0, b1a, b1b, b2a, b2b, b3b]) of every Inception block, in order.
INCEPTION_BLOCKS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
#: Final feature channels before the logits (384 + 384 + 128 + 128).
FINAL_CHANNELS = 1024


def _same_pad(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """F.pad argument (w_front, w_back, h_front, h_back, t_front, t_back) for TF "SAME" padding."""
    pads: list[int] = []
    for s, k, st in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class MaxPool3dSame(nn.Module):
    """Max pool with "SAME" zero padding (the original pads with zeros after a ReLU)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class Unit3D(nn.Module):
    """Conv3d ("SAME" padding) -> BatchNorm3d -> ReLU; the logits unit has bias and neither BN nor ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        batch_norm: bool = True,
        activation: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.activation = kernel, stride, activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionBlock(nn.Module):
    """Four branches (1x1 | 1x1-3x3 | 1x1-3x3 | pool-1x1) concatenated on channels."""

    def __init__(self, in_channels: int, out: Sequence[int]) -> None:
        super().__init__()
        cube = (3, 3, 3)
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a = Unit3D(in_channels, out[1])
        self.b1b = Unit3D(out[1], out[2], cube)
        self.b2a = Unit3D(in_channels, out[3])
        self.b2b = Unit3D(out[3], out[4], cube)
        self.b3a = MaxPool3dSame(cube, (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class InceptionI3d(nn.Module):
    """I3D up to the Kinetics logits; (B, 3, T, H, W) in [-1, 1] -> (B, num_classes)."""

    def __init__(self, num_classes: int = NUM_KINETICS_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        pools = {"Mixed_4b": ((3, 3, 3), (2, 2, 2)), "Mixed_5b": ((2, 2, 2), (2, 2, 2))}
        pool_names = {"Mixed_4b": "MaxPool3d_4a_3x3", "Mixed_5b": "MaxPool3d_5a_2x2"}
        self._stages: list[str] = [
            "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
        ]
        for name, cin, out in INCEPTION_BLOCKS:
            if name in pools:
                setattr(self, pool_names[name], MaxPool3dSame(*pools[name]))
                self._stages.append(pool_names[name])
            setattr(self, name, InceptionBlock(cin, out))
            self._stages.append(name)
        self.logits = Unit3D(FINAL_CHANNELS, num_classes, batch_norm=False, activation=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"InceptionI3d expects (B, C, T, H, W), got shape {tuple(x.shape)}")
        for name in self._stages:
            x = getattr(self, name)(x)
        window = tuple(min(k, s) for k, s in zip(LOGITS_POOL, x.shape[2:]))
        x = F.avg_pool3d(x, window, stride=1)
        return self.logits(x).mean(dim=(2, 3, 4))


def parameter_layout(model: nn.Module) -> dict[str, list[int]]:
    """{state-dict key: shape} of a model (parameters and BatchNorm buffers), the layout tests compare."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def load_i3d(path: str | Path, device: str | torch.device = "cpu") -> InceptionI3d:
    """Build :class:`InceptionI3d` and load a safetensors file in the pytorch-i3d layout (strict).

    BatchNorm ``num_batches_tracked`` counters, absent from old checkpoints, are not required.
    """
    state = load_safetensors_weights(
        path, "i3d weights", "convert a pytorch-i3d checkpoint once with `mcm convert i3d SRC.pt DST.safetensors`"
    )
    model = InceptionI3d()
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"i3d weights {str(path)!r}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    bad = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if bad:
        raise ValueError(f"i3d weights {str(path)!r}: shape mismatch for {bad[:5]}")
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


class TorchScriptI3D(nn.Module):
    """The StyleGAN-V ``i3d_torchscript.pt`` run as is: (B, 3, T, 224, 224) in [-1, 1] -> (B, 400).

    Loaded only from a path the user passes explicitly. It is called with ``rescale=False, resize=False,
    return_features=True`` (the StyleGAN-V FVD call): our preprocessing already resized and rescaled.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"i3d TorchScript file not found: {str(path)!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; the file is TorchScript
            self.module = torch.jit.load(str(path), map_location=device).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, rescale=False, resize=False, return_features=True)
