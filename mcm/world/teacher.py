"""The small world's teacher: ModelScope's architecture (``UNet3DConditionModel``), trained on V.

Denoising score matching in the VAE's latent space, epsilon prediction, ModelScope's scaled-linear betas
(0.00085 .. 0.012, T = 1000), the caption dropped (replaced by the empty caption) with probability
``uncond_prob`` so the model also learns the unconditional score that classifier-free guidance needs.
The loss is weighted by min(SNR, gamma) / SNR (Min-SNR, Hang et al. 2023), which converges faster than
the plain loss; the shipped weights are an exponential moving average of the trained ones.

V's clips (degraded, watermarked) are encoded once (posterior means x scaling factor) and their captions
once; steps then draw (clip, timestep, noise, dropout) from generators keyed by (seed, step). The run
checkpoints every ``checkpoint_every`` steps (atomically) and resumes from its last checkpoint.

Frame order. Diffusers' ``UNet3DConditionModel`` has no positional embedding in its temporal attention, so the
only thing that tells its frames apart is the zero padding of the temporal convolutions; with ordinary
(two-sided) kernels a small model trained for minutes stays time-reversal equivariant (the first teacher:
|f(x) - flip f(flip x)| / |f(x)| = 0.5% at t = 999), reads the axis of the motion from the caption but takes its
sign from the noise (left/right and up/down confused half the time), and follows a time-flipped input's motion
against the caption. Two training choices make it bind the sign to the caption (the result is a plain UNet3D
that every loader reads); both are off by default here, and the shipped teacher (``ToyAssetsConfig``) uses the
first one alone:

- ``causal_temporal``: every (3, 1, 1) temporal kernel sees the current and the previous frame only (its
  next-frame tap is zero at initialisation and after every step), so the padding at the first frame gives
  each frame its distance from the start: a clock the caption's direction can bind to;
- ``snr_lift = 1``: the clean-video error is weighted min(SNR + 1, gamma), the Min-SNR
  weight (Hang et al. 2023) raised by 1 at high noise, as v-prediction's loss weights it there. The sign of the
  motion is decided at high noise, where Min-SNR's weight min(SNR, gamma) ~ SNR leaves it nearly unlearnt.

Measured on 1200-step runs (same seed, 1 thread; 64 clips of V, time-flipped, noised to t = 900, one guided
prediction read by the direction classifier, the probe of bench/frame_order.py; its --train reruns these):
the caption's direction / the flipped input's (leaked) direction is 42% / 14% with both; 12% / 50% with neither, 16% / 31% with the weighting alone,
11% / 52% with causal kernels only at initialisation (the next-frame taps then grow back). A full 2500-step
teacher with both (the toy-assets recipe otherwise) draws the captioned direction on 100% of 32 seen and 32
zero-shot prompts (10 DDIM steps, g = 3; the shipped teacher: 50%), but the shape on only 53% / 31% (shipped:
94% / 81%), so all three on 50% / 28% against the shipped 47% / 44%: the weighting's large high-noise weights
(up to 1 / SNR = 213 on the epsilon error) take the optimiser's steps from the low-noise detail that shapes
need. Not shipped.

Fine-tuning the shipped teacher instead (``init_from`` it, causal kernels, lr 3e-4, 20 warm-up steps; 32 + 32
prompts, 10 DDIM steps, g = 3): with ``snr_lift = 1``, 600 steps (38 min on 1 thread, beside another run) draw
the direction on 21 / 21 of 32 seen / zero-shot prompts (shipped: 16 / 16) and all three on 18 / 15 (shipped:
15 / 14), shapes kept (29 / 24; shipped: 30 / 26); with ``snr_lift = 0.1`` the direction is still at chance after
200 steps (19 / 18). The sign binds far more slowly from a time-symmetric start than from scratch: within noise
of the shipped teacher, so not shipped either.

Binding early, then learning detail (``snr_lift_until``): from scratch, causal kernels, ``snr_lift = 1`` for the first
1250 of 2500 steps and Min-SNR after (41.5 min on 1 thread beside other work; same 32 + 32 prompts) draws the
direction on 31 / 31 of 32 seen / zero-shot prompts, but the shape on 18 / 10 and all three on 16 / 9 (shipped
15 / 14). The shapes grow with the Min-SNR steps (EMA snapshots at 1000 / 1500 / 2000 / 2500 steps: 6 / 12 / 18 /
18 seen, 10 / 8 / 9 / 10 zero-shot) while the direction stays bound (25, 31, 31, 31 seen): the recipe needs more
low-noise steps than the 90-minute budget of ``make toy-assets`` leaves on one thread. Continuing it (``init_from``
its EMA weights, causal kernels, Min-SNR, lr 5e-4, 1000 steps, 13.9 min) keeps the direction (32 / 32) and lifts
zero-shot shapes to 16 but not seen ones (19): all three on 17 / 13 of 32, within noise of the shipped 15 / 14, and
3500 steps in all do not fit the budget. Not shipped.

The shipped teacher: causal kernels alone (``snr_lift = 0``: Min-SNR throughout), from scratch, 3000 steps
(47.1 min on 1 thread, beside other runs). The same recipe's length against accuracy (all three attributes right,
32 + 32 prompts at 10 DDIM steps, g = 3 / 64 + 64 prompts at 50 steps, bench/toy.py; seen, zero-shot):
2000 steps 29 / 24 of 32, 79.7% / 73.4%; 2500 steps 31 / 27, 85.9% / 81.2%; 3000 steps 32 / 30, 95.3% / 84.4%,
direction 100% with no sign error (the time-symmetric teacher it replaced, 2000 steps: 15 / 14, 45.3% / 50.0%).
The causal padding alone is clock enough once the loss is not dominated by high-noise weights: the direction
binds within 1000 steps (EMA snapshot of the 2500-step run: direction 31 / 32 of 32) and the remaining
low-noise steps build the shapes (shape 29 / 25 of 32 at 2000 steps, 32 / 31 at 3000).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import torch
from pydantic import Field

from mcm.teachers.base import alphas_cumprod_from_betas
from mcm.world.sets import WorldConfig, clips
from mcm.world.tokenizer import WORLD_TEXT_MAX_LENGTH
from mcm.world.train_utils import (
    Log, ModelTrainConfig, Progress, atomic_folder, frames_tensor, is_complete, lr_at, set_lr, step_rng,
    torch_generator, write_record,
)

CHECKPOINT_FILE = "checkpoint.pt"


class TeacherTrainConfig(ModelTrainConfig):
    """Architecture and training of the world's teacher."""

    block_out_channels: tuple[int, ...] = Field((32, 64), description="UNet channels per level.")
    layers_per_block: int = Field(1, ge=1, description="ResNet layers per block.")
    norm_num_groups: int = Field(8, ge=1, description="GroupNorm groups.")
    attention_heads: int = Field(8, ge=1, description="Attention heads (UNet3D's attention_head_dim).")
    num_clips: int = Field(4096, ge=8, description="Clips of V the teacher learns from.")
    uncond_prob: float = Field(0.1, ge=0, lt=1, description="Caption dropout probability (CFG training).")
    min_snr_gamma: float = Field(5.0, gt=0, description="Min-SNR loss weight cap gamma.")
    snr_lift: float = Field(0.0, ge=0, description="Weight of the clean-video error: min(SNR + snr_lift, gamma); 0 "
                            "is Min-SNR, 1 v-prediction's weight at high noise, where the direction of motion is "
                            "decided.")
    snr_lift_until: Optional[int] = Field(None, ge=0, description="Apply snr_lift for the first this many steps "
                                          "only, then plain Min-SNR (None: the whole run): the sign of motion is "
                                          "bound early, the shapes' low-noise detail learnt after.")
    causal_temporal: bool = Field(False, description="Temporal convolution kernels see the current and previous "
                                  "frame only (next-frame tap held at zero): the network's frame clock.")
    init_from: Optional[str] = Field(None, description="Start from this diffusers UNet3D folder's weights (a base "
                                     "teacher) instead of a fresh initialisation.")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA decay of the shipped weights.")
    num_train_timesteps: int = Field(1000, ge=2, description="T of the noise schedule.")
    beta_start: float = Field(0.00085, gt=0, description="First beta (ModelScope).")
    beta_end: float = Field(0.012, gt=0, description="Last beta (ModelScope).")
    beta_schedule: str = Field("scaled_linear", description="Beta schedule (ModelScope: scaled_linear).")
    checkpoint_every: int = Field(250, ge=1, description="Steps between resumable checkpoints.")
    snapshot_every: int = Field(500, ge=1, description="Steps between EMA snapshots kept in the work folder "
                                "(accuracy against training time: bench/toy.py --unet).")
    encode_batch: int = Field(256, ge=1, description="Frames per VAE forward when encoding V.")
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 100


def build_unet(cfg: TeacherTrainConfig, latent_channels: int, cross_attention_dim: int, sample_size: int):
    from diffusers import UNet3DConditionModel

    n = len(cfg.block_out_channels)
    return UNet3DConditionModel(
        sample_size=sample_size, in_channels=latent_channels, out_channels=latent_channels,
        down_block_types=("CrossAttnDownBlock3D",) * (n - 1) + ("DownBlock3D",),
        up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (n - 1),
        block_out_channels=tuple(cfg.block_out_channels), layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups, cross_attention_dim=cross_attention_dim,
        attention_head_dim=cfg.attention_heads,
    )


def causal_temporal_kernels_(unet) -> int:
    """Zero the next-frame tap of every (3, 1, 1) temporal convolution of ``unet``; returns how many.

    Conv3d's kernel index 2 on the frame axis multiplies frame f + 1 (padding 1): with it at zero, frame f sees
    frames f - 1 and f, and the first frame alone sees the zero padding, so depth gives each frame its place."""
    count = 0
    with torch.no_grad():
        for name, module in unet.named_modules():
            if isinstance(module, torch.nn.Conv3d) and module.kernel_size == (3, 1, 1) and "temp_convs" in name:
                module.weight[:, :, 2].zero_()
                count += 1
    return count


def loss_weights(abar: torch.Tensor, cfg: TeacherTrainConfig, step: int = 0) -> torch.Tensor:
    """Per-timestep weight of the epsilon error at ``step``: (x0-space weight) / SNR, since
    |eps error|^2 = SNR |x0 error|^2."""
    snr = abar / (1 - abar)
    lifted = cfg.snr_lift_until is None or step < cfg.snr_lift_until
    x0_weight = snr + (cfg.snr_lift if lifted else 0.0)
    return torch.clamp(x0_weight, max=cfg.min_snr_gamma) / snr


def scheduler_config(cfg: TeacherTrainConfig) -> dict:
    return {"num_train_timesteps": cfg.num_train_timesteps, "beta_start": cfg.beta_start,
            "beta_end": cfg.beta_end, "beta_schedule": cfg.beta_schedule, "prediction_type": "epsilon",
            "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1}


@torch.no_grad()
def encode_training_set(world: WorldConfig, cfg: TeacherTrainConfig, vae, text_encoder, tokenizer, log: Log):
    """(latents (N, C, F, h, w), text states (N, L, D), null text state (1, L, D)) of V's first clips."""
    arr, its = clips(world, "videos", cfg.num_clips)
    frames = frames_tensor(arr).flatten(0, 1)
    means = torch.cat([vae.encode(frames[i:i + cfg.encode_batch]).latent_dist.mean
                       for i in range(0, len(frames), cfg.encode_batch)])
    latents = (means * vae.config.scaling_factor).reshape(len(its), world.num_frames, *means.shape[1:])
    latents = latents.permute(0, 2, 1, 3, 4).contiguous()

    def encode(texts: list[str]) -> torch.Tensor:
        ids = tokenizer(texts, padding="max_length", max_length=WORLD_TEXT_MAX_LENGTH, truncation=True,
                        return_tensors="pt").input_ids
        return text_encoder(ids)[0]

    text = torch.cat([encode([it.caption for it in its[i:i + 512]]) for i in range(0, len(its), 512)])
    log(f"teacher: encoded {len(its)} clips of V: latents {tuple(latents.shape)}, std {latents.std():.3f}")
    return latents, text, encode([""])


def _save_checkpoint(path: Path, step: int, unet, ema, opt) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"step": step, "unet": unet.state_dict(), "ema": ema, "opt": opt.state_dict()}, tmp)
    os.replace(tmp, path)


def _save_snapshot(folder: Path, unet, ema: dict, seconds: float) -> None:
    """The EMA weights so far as a diffusers UNet folder (the training weights are put back after)."""
    live = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    unet.load_state_dict(ema)
    with atomic_folder(folder) as tmp:
        unet.save_pretrained(tmp)
        write_record(tmp, {"seconds_this_run": seconds})
    unet.load_state_dict(live)


def train_teacher(world: WorldConfig, folder: str | Path, work: str | Path, vae, text_encoder, tokenizer,
                  cfg: TeacherTrainConfig, log: Log = print, device: str = "cpu") -> dict:
    """Train the UNet; save it (EMA weights) as ``folder`` (diffusers ``unet`` folder + training.json).

    ``work`` holds the resumable checkpoint; it is removed when the UNet is saved."""
    folder, work = Path(folder), Path(work)
    if is_complete(folder):
        log(f"teacher: {folder} is complete, kept")
        return {}
    t0 = time.perf_counter()
    latents, text, null = encode_training_set(world, cfg, vae, text_encoder, tokenizer, log)
    torch.manual_seed(cfg.seed)
    unet = build_unet(cfg, latents.shape[1], text.shape[-1], latents.shape[-1])
    if cfg.init_from:
        from diffusers import UNet3DConditionModel

        unet.load_state_dict(UNet3DConditionModel.from_pretrained(cfg.init_from).state_dict())
        log(f"teacher: initialised from {cfg.init_from}")
    if cfg.causal_temporal:
        causal_temporal_kernels_(unet)
    unet.train().to(device)
    latents, text, null = latents.to(device), text.to(device), null.to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    start = 0
    ckpt = work / CHECKPOINT_FILE
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        unet.load_state_dict(state["unet"])
        opt.load_state_dict(state["opt"])
        ema, start = state["ema"], int(state["step"])
        log(f"teacher: resumed at step {start} from {ckpt}")
    work.mkdir(parents=True, exist_ok=True)
    abar = alphas_cumprod_from_betas(cfg.num_train_timesteps, cfg.beta_start, cfg.beta_end, cfg.beta_schedule)
    abar = abar.to(device)
    progress = Progress("teacher", cfg.steps, cfg.log_every, log, start=start)
    for step in range(start, cfg.steps):
        set_lr(opt, lr_at(cfg, step))
        rng = step_rng(cfg.seed, step)
        idx = torch.from_numpy(rng.integers(len(latents), size=cfg.batch_size)).to(device)
        t = torch.from_numpy(rng.integers(cfg.num_train_timesteps, size=cfg.batch_size)).to(device)
        drop = torch.from_numpy(rng.uniform(size=cfg.batch_size) < cfg.uncond_prob).to(device)
        x0 = latents[idx]
        cond = torch.where(drop[:, None, None], null.expand(cfg.batch_size, -1, -1), text[idx])
        noise = torch.randn(x0.shape, generator=torch_generator(cfg.seed, step, stream=1)).to(device)
        a = abar[t].view(-1, 1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        # ModelScope's temporal convolutions have dropout (0.1), drawn from the global generator: seed it per
        # step so a resumed run draws what an uninterrupted one would.
        torch.manual_seed(int(rng.integers(2**62)))
        eps = unet(x_t, t, encoder_hidden_states=cond).sample
        weight = loss_weights(abar, cfg, step)
        loss = (weight[t] * (eps - noise).pow(2).mean(dim=(1, 2, 3, 4))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cfg.causal_temporal:
            causal_temporal_kernels_(unet)
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                else:
                    ema[k].copy_(v)
        progress.update(step, loss.item())
        if (step + 1) % cfg.snapshot_every == 0 and step + 1 < cfg.steps:
            _save_snapshot(work / "snapshots" / f"step-{step + 1:06d}", unet, ema, progress.seconds)
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_checkpoint(ckpt, step + 1, unet, ema, opt)
    unet.load_state_dict(ema)
    unet.eval().cpu()
    record = {"model": "teacher_unet", "config": cfg.model_dump(mode="json"), "resumed_at": start,
              "seconds_this_run": time.perf_counter() - t0, "loss_curve": progress.curve,
              "threads": torch.get_num_threads()}
    with atomic_folder(folder) as tmp:
        unet.save_pretrained(tmp)
        write_record(tmp, record)
    if ckpt.is_file():
        ckpt.unlink()  # the snapshots stay in ``work`` (ignored by git): accuracy against training time
    log(f"teacher: done, {record['seconds_this_run'] / 60:.1f} min this run")
    return record
