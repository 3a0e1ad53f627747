"""The small world's VAE: a diffusers ``AutoencoderKL`` trained on the world's frames.

It is trained on frames of V (degraded, watermarked), of clean renders (M's look) and of the styled
rendering, so one latent space holds all three: the teacher learns V in it, and a student pushed towards M
or the styled set by the discriminator can still decode sharp or styled frames. Loss: mean squared plus
absolute reconstruction error, and a KL term small enough to keep the latents informative (as the KL-f8
autoencoders of latent diffusion). The scaling factor is set after training to 1 / std of the latents, as
Stable Diffusion's 0.18215 was.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from mcm.world.sets import WorldConfig, clips
from mcm.world.train_utils import (
    Log, ModelTrainConfig, Progress, atomic_folder, frames_tensor, is_complete, lr_at, set_lr, step_rng,
    torch_generator, write_record,
)

LOOKS = ("degraded", "clean", "styled")


class VAETrainConfig(ModelTrainConfig):
    """Architecture and training of the world's VAE (downsampling 2^(levels-1))."""

    block_out_channels: tuple[int, ...] = Field((32, 64, 64), description="Channels per level (3 levels: /4).")
    layers_per_block: int = Field(1, ge=1, description="ResNet layers per level.")
    latent_channels: int = Field(4, ge=1, description="Latent channels (ModelScope: 4).")
    norm_num_groups: int = Field(16, ge=1, description="GroupNorm groups.")
    pool_clips: int = Field(1536, ge=8, description="Clips rendered for the frame pool (all frames used).")
    look_weights: tuple[float, float, float] = Field(
        (0.5, 0.3, 0.2), description="Share of degraded (V), clean (M) and styled clips in the pool."
    )
    kl_weight: float = Field(1e-6, ge=0, description="Weight of the KL term.")
    l1_weight: float = Field(1.0, ge=0, description="Weight of the absolute error beside the squared error.")
    stats_frames: int = Field(1024, ge=2, description="Frames the scaling factor and the PSNR are measured on.")
    steps: int = 1200
    batch_size: int = 64
    lr: float = 1e-3


def build_vae(cfg: VAETrainConfig, size: int):
    from diffusers import AutoencoderKL

    n = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block, latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups, sample_size=size,
    )


def frame_pool(world: WorldConfig, cfg: VAETrainConfig) -> torch.Tensor:
    """(N*F, 3, H, W) in [-1, 1]: frames of ``pool_clips`` clips of the networks set, looks in proportion."""
    counts = np.floor(np.asarray(cfg.look_weights) / sum(cfg.look_weights) * cfg.pool_clips).astype(int)
    parts, start = [], 0
    for look, n in zip(LOOKS, counts):
        arr, _ = clips(world, "networks", int(n), start=start, look=look)
        parts.append(frames_tensor(arr).flatten(0, 1))
        start += int(n)
    return torch.cat(parts)


def train_vae(world: WorldConfig, folder: str | Path, cfg: VAETrainConfig, log: Log = print,
              device: str = "cpu") -> dict:
    """Train and save the VAE (diffusers folder with ``training.json``); a complete folder is kept."""
    folder = Path(folder)
    if is_complete(folder):
        log(f"vae: {folder} is complete, kept")
        return {}
    t0 = time.perf_counter()
    pool = frame_pool(world, cfg)
    torch.manual_seed(cfg.seed)
    vae = build_vae(cfg, world.size).to(device)
    pool = pool.to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    progress = Progress("vae", cfg.steps, cfg.log_every, log)
    for step in range(cfg.steps):
        set_lr(opt, lr_at(cfg, step))
        idx = torch.from_numpy(step_rng(cfg.seed, step).integers(len(pool), size=cfg.batch_size)).to(device)
        x = pool[idx]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(
            posterior.mean.shape, generator=torch_generator(cfg.seed, step, stream=1)).to(device)
        recon = vae.decode(z).sample
        err = recon - x
        loss = err.pow(2).mean() + cfg.l1_weight * err.abs().mean() + cfg.kl_weight * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        progress.update(step, loss.item())
    vae.eval().cpu()
    pool = pool.cpu()
    with torch.no_grad():
        picks = step_rng(cfg.seed, cfg.steps, stream=2).integers(len(pool), size=cfg.stats_frames)
        sample = pool[torch.from_numpy(picks)]
        latents = torch.cat([vae.encode(sample[i:i + 256]).latent_dist.mean for i in range(0, len(sample), 256)])
        scaling = float(1.0 / latents.std())
        recon = torch.cat([vae.decode(latents[i:i + 256]).sample for i in range(0, len(sample), 256)])
        psnr = float(10 * torch.log10(4.0 / (recon.clamp(-1, 1) - sample).pow(2).mean()))
    vae.register_to_config(scaling_factor=scaling)
    record = {"model": "vae", "config": cfg.model_dump(mode="json"), "seconds": time.perf_counter() - t0,
              "loss_curve": progress.curve, "scaling_factor": scaling, "recon_psnr_db": psnr,
              "threads": torch.get_num_threads()}
    with atomic_folder(folder) as tmp:
        vae.save_pretrained(tmp)
        write_record(tmp, record)
    log(f"vae: psnr {psnr:.2f} dB, scaling factor {scaling:.4f}, {record['seconds']:.0f} s")
    return record
