"""The text condition c of the discriminator heads (Eq. 4-5, Appendix C.1): a CLIP text embedding per caption.

``discriminator.text_encoder: teacher`` uses the pooled output of the teacher's own CLIP text encoder
(ModelScope: OpenCLIP ViT-H, 1024; SD1.5: 768); a local folder or hub id loads a transformers
``CLIPTextModelWithProjection`` (the authors: open_clip ViT-g-14, 1024) and uses its projected ``text_embeds``.

Captions repeat across steps (the image set's and the video set's), so embeddings are cached: a least recently
used cache of CPU tensors bounded in bytes (``max_bytes``, default :data:`TEXT_CACHE_MAX_BYTES`); only the
requested batch is moved to the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch

from mcm.utils.tensor_cache import TensorLRU

if TYPE_CHECKING:  # annotations only: no import of the config schema or the teachers at runtime
    from mcm.config.schema import AdversarialConfig
    from mcm.teachers.base import Teacher

TEXT_CACHE_MAX_BYTES = 64 * 2**20  # 64 MiB of fp32 embeddings: 16384 captions at width 1024
TEACHER_ENCODER = "teacher"
POOLED_OUTPUT = "pooler_output"  # CLIPTextModel: the EOS token's final hidden state
PROJECTED_OUTPUT = "text_embeds"  # CLIPTextModelWithProjection: the pooled output, projected
PROBE_CAPTION = "a"  # encoded once at construction to check the embedding width


class DiscriminatorText:
    """Captions -> CLIP text embeddings (N, text_embed_dim) for the discriminator heads, with an LRU cache.

    Args:
        cfg: the discriminator section (``text_embed_dim``: 0 = unconditional heads, then calls return None;
            ``text_encoder``: ``'teacher'`` or a CLIP folder / hub id).
        teacher: gives the text encoder and tokenizer when ``text_encoder='teacher'``.
        device: where returned batches live.
        max_bytes: bound of the cache, counting embedding bytes; least recently used captions are evicted
            first; 0 disables caching.
    """

    def __init__(self, cfg: "AdversarialConfig", teacher: "Teacher", device: torch.device | str,
                 max_bytes: int = TEXT_CACHE_MAX_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes} must be >= 0")
        self.width, self.device, self.max_bytes = cfg.text_embed_dim, torch.device(device), int(max_bytes)
        self._cache = TensorLRU(self.max_bytes)  # caption -> CPU embedding (width,)
        if self.width == 0:
            self.encoder = self.tokenizer = None
            return
        if cfg.text_encoder == TEACHER_ENCODER:
            if teacher.text_encoder is None:
                raise ValueError(f"discriminator.text_encoder='teacher': teacher {teacher.name!r} has no text encoder")
            self.encoder, self.tokenizer = teacher.text_encoder, teacher.tokenizer
            self.max_length, self.output = teacher.text_max_length, POOLED_OUTPUT
        else:
            from transformers import CLIPTextModelWithProjection, CLIPTokenizer

            self.encoder = CLIPTextModelWithProjection.from_pretrained(cfg.text_encoder, use_safetensors=True)
            self.encoder.requires_grad_(False).eval().to(self.device)
            self.tokenizer = CLIPTokenizer.from_pretrained(cfg.text_encoder)
            self.max_length, self.output = self.tokenizer.model_max_length, PROJECTED_OUTPUT
        got = self.encode([PROBE_CAPTION]).shape[-1]
        if got != self.width:
            raise ValueError(
                f"discriminator.text_embed_dim={self.width} but discriminator.text_encoder={cfg.text_encoder!r} "
                f"gives {got}-wide embeddings"
            )

    @torch.no_grad()
    def encode(self, captions: list[str]) -> torch.Tensor:
        """Uncached: (N, width) fp32 on the encoder's device."""
        tokens = self.tokenizer(captions, padding="max_length", max_length=self.max_length, truncation=True,
                                return_tensors="pt")
        return self.encoder(tokens.input_ids.to(self.encoder.device))[self.output].float()

    @property
    def cache_bytes(self) -> int:
        """Bytes held by the cache now (always <= ``max_bytes``)."""
        return self._cache.bytes

    def __len__(self) -> int:
        """Captions cached now."""
        return len(self._cache)

    def __contains__(self, caption: str) -> bool:
        return caption in self._cache

    def __call__(self, captions: list[str]) -> Optional[torch.Tensor]:
        """(N, text_embed_dim) on the device, or None for unconditional heads; misses are encoded in one batch.

        A request larger than the whole cache is still answered in full and in order (see ``TensorLRU``)."""
        if self.encoder is None:
            return None
        if not captions:
            raise ValueError("captions must name at least one caption")
        return self._cache.get_batch(captions, self.encode, self.device)
