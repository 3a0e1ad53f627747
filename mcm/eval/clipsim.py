"""CLIPSIM: mean cosine between CLIP image embeddings of every frame and the prompt's text embedding.

Paper section 4 ("Evaluation metrics"): CLIP ViT-B/16, reported x100 (Tables 1, 2). The cosine is not
clipped at 0. Frames are preprocessed in torch like ``CLIPImageProcessor``: bicubic (antialiased) resize of
the short side to the model's image size, center crop, normalisation by the processor's mean and std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from mcm.eval.frames import as_video_list

#: CLIP's normalisation (OpenAI), used when the processor config is absent.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: CLIP's text context length.
CLIP_MAX_TOKENS = 77


def _embedding(out) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4) or an output whose pooler_output is projected (5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class CLIPSim:
    """Per-video CLIPSIM: videos (N, F, C, H, W) in [0, 1], prompts (N,) -> mean cosine per video (N,)."""

    def __init__(
        self,
        model,
        tokenizer,
        mean: Sequence[float] = CLIP_MEAN,
        std: Sequence[float] = CLIP_STD,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.image_size = int(model.config.vision_config.image_size)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, local_files_only: bool = True, batch_size: int = 64, device: str = "cpu"
    ) -> "CLIPSim":
        """Load CLIPModel, tokenizer and image-processor statistics from a local folder or hub id."""
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        try:
            model = CLIPModel.from_pretrained(str(name_or_path), local_files_only=local_files_only)
            tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=local_files_only)
        except OSError as err:
            raise ValueError(f"clipsim.model: cannot load CLIP from {str(name_or_path)!r}: {err}") from err
        try:
            proc = CLIPImageProcessor.from_pretrained(str(name_or_path), local_files_only=local_files_only)
            mean, std = proc.image_mean, proc.image_std
        except OSError:
            mean, std = CLIP_MEAN, CLIP_STD
        return cls(model, tokenizer, mean, std, batch_size=batch_size, device=device)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> CLIP pixel values (B, 3, S, S)."""
        s = self.image_size
        h, w = frames.shape[-2:]
        if (h, w) != (s, s):
            scale = s / min(h, w)
            size = (s, max(s, round(w * scale))) if h <= w else (max(s, round(h * scale)), s)
            frames = F.interpolate(frames, size=size, mode="bicubic", align_corners=False, antialias=True)
            top, left = (frames.shape[-2] - s) // 2, (frames.shape[-1] - s) // 2
            frames = frames[..., top : top + s, left : left + s].clamp(0, 1)
        return (frames - self.mean) / self.std

    @torch.inference_mode()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit-norm text embeddings (N, D)."""
        tokens = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=CLIP_MAX_TOKENS, return_tensors="pt"
        ).to(self.device)
        emb = _embedding(self.model.get_text_features(**tokens)).float()
        return F.normalize(emb, dim=-1)

    @torch.inference_mode()
    def image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings (B, D) of preprocessed pixels, in batches of ``batch_size``."""
        out = [
            _embedding(self.model.get_image_features(pixel_values=pixel_values[i : i + self.batch_size])).float()
            for i in range(0, pixel_values.shape[0], self.batch_size)
        ]
        return F.normalize(torch.cat(out), dim=-1)

    @torch.inference_mode()
    def __call__(self, videos: torch.Tensor | Sequence[torch.Tensor], prompts: Sequence[str]) -> torch.Tensor:
        vids = as_video_list(videos)
        if len(vids) != len(prompts):
            raise ValueError(f"got {len(vids)} videos but {len(prompts)} prompts")
        counts = [v.shape[0] for v in vids]
        pixels = torch.cat([self.preprocess(v.to(self.device, torch.float32)) for v in vids])
        img = self.image_embeddings(pixels)  # (sum F, D)
        txt = self.text_embeddings(prompts)  # (N, D)
        txt_per_frame = torch.repeat_interleave(txt, torch.tensor(counts, device=txt.device), dim=0)
        cos = (img * txt_per_frame).sum(-1)
        return torch.stack([c.mean() for c in cos.split(counts)])
