"""Aesthetic score of an image: CLIP image embedding + linear/MLP head (the LAION aesthetic predictor).

LAION-aesthetics v2 scores an image by an MLP over the L2-normalised CLIP ViT-L/14 image embedding
(768 -> 1024 -> 128 -> 64 -> 16 -> 1, no activations, dropout only in training); LAION-aes, the paper's
image set (section 4.2), keeps scores >= 6. Both parts load from local paths: a transformers CLIP folder
(``CLIPVisionModelWithProjection``) and a safetensors head whose keys are ``layers.{i}.weight/bias`` (a
linear head is one layer). Third-party ``.pth`` heads are converted once with :func:`convert_head`.

Shapes: images (B, 3, S, S) normalised with the CLIP mean/std -> embeddings (B, D) -> scores (B,).
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

#: Normalisation of OpenAI CLIP image inputs.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.weight$")


class AestheticScorerConfig(BaseModel):
    """Where the CLIP image model and the aesthetic head are."""

    model_config = ConfigDict(extra="forbid")

    clip_path: str = Field(..., description="Local transformers CLIP folder (CLIPVisionModelWithProjection).")
    head_path: str = Field(..., description="Local safetensors head with keys layers.{i}.weight/bias.")
    activation: Literal["none", "relu", "gelu"] = Field("none", description="Between head layers (LAION v2: none).")
    normalize: bool = Field(True, description="L2-normalise the CLIP embedding before the head (LAION v2: yes).")
    batch_size: int = Field(16, ge=1, description="Images per CLIP forward.")


class AestheticHead(torch.nn.Module):
    """A chain of Linear layers (B, D) -> (B,), optionally with activations in between."""

    def __init__(self, layers: list[torch.nn.Linear], activation: str = "none") -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.act = {"none": torch.nn.Identity(), "relu": torch.nn.ReLU(), "gelu": torch.nn.GELU()}[activation]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        x = emb
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x.squeeze(-1)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], activation: str = "none") -> "AestheticHead":
        idx = sorted(int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k)))
        if not idx:
            raise ValueError("head_path: no 'layers.{i}.weight' tensors in the head file")
        layers = []
        for i in idx:
            w, b = state[f"layers.{i}.weight"], state.get(f"layers.{i}.bias")
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            lin.weight.data.copy_(w)
            if b is not None:
                lin.bias.data.copy_(b)
            layers.append(lin)
        if layers[-1].out_features != 1:
            raise ValueError(f"head_path: last layer has {layers[-1].out_features} outputs, expected 1")
        return cls(layers, activation)

    def compact_state_dict(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, lin in enumerate(self.layers):
            out[f"layers.{i}.weight"] = lin.weight.detach().contiguous()
            if lin.bias is not None:
                out[f"layers.{i}.bias"] = lin.bias.detach().contiguous()
        return out


def convert_head(src_pth: str, dst_safetensors: str) -> None:
    """Convert a LAION ``.pth`` head state dict (loaded with weights_only=True) to safetensors, once."""
    from safetensors.torch import save_file

    state = torch.load(src_pth, map_location="cpu", weights_only=True)
    head = AestheticHead.from_state_dict({k: v for k, v in state.items()})
    save_file(head.compact_state_dict(), dst_safetensors)


class AestheticScorer:
    """Scores PIL images: ``scorer(images) -> np.ndarray (B,)``."""

    def __init__(self, config: AestheticScorerConfig) -> None:
        from safetensors.torch import load_file
        from transformers import CLIPVisionModelWithProjection

        self.config = config
        self.model = CLIPVisionModelWithProjection.from_pretrained(config.clip_path).eval()
        self.head = AestheticHead.from_state_dict(load_file(config.head_path), config.activation).eval()
        self.size = int(self.model.config.image_size)
        emb_dim = int(self.model.config.projection_dim)
        if self.head.layers[0].in_features != emb_dim:
            raise ValueError(f"head_path: head expects {self.head.layers[0].in_features}-d input, "
                             f"the CLIP model gives {emb_dim}")

    def preprocess(self, images: list) -> torch.Tensor:
        """PIL images -> (B, 3, S, S): bicubic resize of the shorter side, centre crop, CLIP normalisation."""
        from mcm.data.transforms import cover_crop

        arr = np.stack([np.asarray(cover_crop(im.convert("RGB"), self.size, self.size)) for im in images])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
        mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def __call__(self, images: list) -> np.ndarray:
        scores = []
        for s in range(0, len(images), self.config.batch_size):
            emb = self.model(pixel_values=self.preprocess(images[s:s + self.config.batch_size])).image_embeds
            if self.config.normalize:
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            scores.append(self.head(emb).float().numpy())
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
