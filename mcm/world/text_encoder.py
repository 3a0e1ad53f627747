"""The small world's text encoder: a small CLIP text model, trained on the world's captions.

Trained, not frozen: a random frozen encoder gives synonyms ("crimson", "red") and word orders unrelated
states, so the teacher would have to learn every synonym from its own data. Here the encoder learns to name
the three attributes of a caption from its pooled (end-of-text) state and from the mean of its token states
(three linear heads, discarded after training), on captions of the seen combinations only, so the states
the teacher's cross-attention reads already carry shape, colour and direction, for any wording, and for the
held-out combinations too (each attribute is predicted on its own).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from pydantic import Field
from torch import nn

from mcm.world.sets import CAPTION_VARIANTS
from mcm.world.spec import ATTRIBUTES, COLOURS, DIRECTIONS, SHAPES, caption, seen_combos
from mcm.world.tokenizer import WORLD_TEXT_MAX_LENGTH
from mcm.world.train_utils import (
    Log, ModelTrainConfig, Progress, atomic_folder, is_complete, lr_at, set_lr, step_rng, write_record,
)

NUM_VALUES = {"shape": len(SHAPES), "colour": len(COLOURS), "direction": len(DIRECTIONS)}


class TextTrainConfig(ModelTrainConfig):
    """Architecture and training of the world's CLIP text encoder."""

    hidden_size: int = Field(64, ge=8, description="Width: the teacher's cross_attention_dim.")
    num_layers: int = Field(2, ge=1, description="Transformer layers.")
    num_heads: int = Field(4, ge=1, description="Attention heads.")
    intermediate_size: int = Field(128, ge=8, description="MLP width.")
    uncond_fraction: float = Field(0.05, ge=0, lt=1, description="Share of empty captions (the CFG null text).")
    steps: int = 400
    batch_size: int = 128
    lr: float = 2e-3


def build_text_encoder(cfg: TextTrainConfig, vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        max_position_embeddings=WORLD_TEXT_MAX_LENGTH, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    return CLIPTextModel(config)


def caption_batch(seed: int, step: int, n: int, uncond_fraction: float) -> tuple[list[str], torch.Tensor]:
    """Captions of random seen combinations and variants, and their (n, 3) attribute labels (-1: empty)."""
    rng = step_rng(seed, step)
    pool = seen_combos()
    texts, labels = [], []
    for _ in range(n):
        combo = pool[int(rng.integers(len(pool)))]
        if rng.uniform() < uncond_fraction:
            texts.append("")
            labels.append((-1, -1, -1))
        else:
            texts.append(caption(combo, int(rng.integers(CAPTION_VARIANTS))))
            labels.append((combo.shape, combo.colour, combo.direction))
    return texts, torch.tensor(labels)


def train_text_encoder(folder: str | Path, tokenizer, cfg: TextTrainConfig, log: Log = print) -> dict:
    """Train and save the text encoder (transformers folder with ``training.json``)."""
    folder = Path(folder)
    if is_complete(folder):
        log(f"text encoder: {folder} is complete, kept")
        return {}
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = build_text_encoder(cfg, len(tokenizer.get_vocab()))
    heads = nn.ModuleDict({f"{k}_{a}": nn.Linear(cfg.hidden_size, NUM_VALUES[a])
                           for k in ("pooled", "mean") for a in ATTRIBUTES})
    params = list(model.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    progress = Progress("text", cfg.steps, cfg.log_every, log)
    ce = nn.CrossEntropyLoss(ignore_index=-1)
    for step in range(cfg.steps):
        set_lr(opt, lr_at(cfg, step))
        texts, labels = caption_batch(cfg.seed, step, cfg.batch_size, cfg.uncond_fraction)
        ids = tokenizer(texts, padding="max_length", max_length=WORLD_TEXT_MAX_LENGTH, truncation=True,
                        return_tensors="pt").input_ids
        out = model(ids)
        feats = {"pooled": out.pooler_output, "mean": out.last_hidden_state.mean(dim=1)}
        loss = sum(ce(heads[f"{k}_{a}"](feats[k]), labels[:, i])
                   for k in feats for i, a in enumerate(ATTRIBUTES)) / (2 * len(ATTRIBUTES))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        progress.update(step, loss.item())
    record = {"model": "text_encoder", "config": cfg.model_dump(mode="json"), "seconds": time.perf_counter() - t0,
              "loss_curve": progress.curve, "threads": torch.get_num_threads()}
    model.eval()
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        write_record(tmp, record)
    log(f"text encoder: final loss {progress.curve[-1][1]:.4f}, {record['seconds']:.0f} s")
    return record
