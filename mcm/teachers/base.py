"""The teacher interface: a guided noise prediction for (x_t, t, text) plus its noise schedule.

The distillation code talks to :class:`Teacher`, never to a UNet class, so any epsilon-prediction model plugs
in (ModelScopeT2V, AnimateDiff, the tiny random ones, the analytic Gaussian-mixture teacher of the tests).

Shapes: video pixels (B, F, C, H, W) in [-1, 1]; latents (B, C, F, h, w) (diffusers' video layout);
text states (B, L, D).

The student is a LoRA on ``network`` (see ``mcm.student.lora``): with adapters disabled the same weights are
the teacher, so one copy of the base weights serves teacher, student and target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import nn


def alphas_cumprod_from_betas(
    num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str
) -> torch.Tensor:
    """abar_t for the schedules our teachers use (as diffusers' DDPM-family schedulers compute them)."""
    if beta_schedule == "linear":
        betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    elif beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    else:
        raise ValueError(f"teacher.beta_schedule={beta_schedule!r} is not supported (linear, scaled_linear)")
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


@dataclass
class Teacher:
    """An epsilon-prediction text-to-video teacher.

    Attributes:
        name: teacher kind.
        network: the denoiser, called as ``network(sample (B,C,F,h,w), timestep (B,), encoder_hidden_states)``.
        text_encoder / tokenizer: the prompt encoder (None for teachers that ignore text).
        vae: latent autoencoder (None: latents are pixels), kept in float32.
        schedule: diffusers scheduler settings (num_train_timesteps, beta_start, beta_end, beta_schedule).
        lora_targets: regex (peft full-name match) of the modules the student adapts by default.
        repeat_text_per_frame: the network wants text states (B*F, L, D) (UNetMotionModel).
        components: extra modules to save with the teacher (e.g. AnimateDiff's motion adapter).
    """

    name: str
    network: nn.Module
    schedule: dict[str, Any]
    lora_targets: str
    text_encoder: Optional[nn.Module] = None
    tokenizer: Any = None
    vae: Optional[nn.Module] = None
    repeat_text_per_frame: bool = False
    latent_channels: int = 4
    vae_scale_factor: int = 1
    text_max_length: int = 77
    components: dict[str, Any] = field(default_factory=dict)
    synthetic_dataset_fn: Optional[Callable[..., Any]] = None

    # --- schedule -------------------------------------------------------------------------------------
    @property
    def alphas_cumprod(self) -> torch.Tensor:
        s = self.schedule
        return alphas_cumprod_from_betas(
            s["num_train_timesteps"], s["beta_start"], s["beta_end"], s["beta_schedule"]
        )

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: torch.device | str) -> "Teacher":
        for module in (self.network, self.text_encoder, self.vae):
            if module is not None:
                module.to(device)
        return self

    # --- the network ----------------------------------------------------------------------------------
    def predict_noise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        text_states: torch.Tensor,
        network: Optional[nn.Module] = None,
    ) -> torch.Tensor:
        """eps(x_t, t, text) of ``network`` (default: ``self.network``; pass the DDP-wrapped one for gradients)."""
        net = self.network if network is None else network
        if self.repeat_text_per_frame:
            text_states = text_states.repeat_interleave(x_t.shape[2], dim=0)
        return net(x_t, t, encoder_hidden_states=text_states).sample

    def guided_noise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        uncond: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps_cond, eps_uncond) in one batched forward (2B); combine with ``lcm_guidance`` or ``cfg_guidance``."""
        eps = self.predict_noise(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, uncond]))
        eps_cond, eps_uncond = eps.chunk(2)
        return eps_cond, eps_uncond

    # --- text -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Prompt embeddings (B, L, D): the text encoder's last hidden state."""
        if self.text_encoder is None:
            return torch.zeros(len(prompts), 1, 1, device=self.device)
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.text_max_length, truncation=True, return_tensors="pt"
        )
        ids = tokens.input_ids.to(self.text_encoder.device)
        return self.text_encoder(ids)[0]

    # --- latents --------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_video(self, video: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Pixels (B, F, C, H, W) in [-1, 1] -> latents (B, C, F, h, w), times the VAE's scaling factor.

        The posterior mean is used (deterministic, so a sample's latent does not depend on its batch)."""
        b, f = video.shape[:2]
        if self.vae is None:
            return video.permute(0, 2, 1, 3, 4).contiguous()
        frames = video.reshape(b * f, *video.shape[2:]).to(self.vae.device, torch.float32)
        latents = torch.cat(
            [self.vae.encode(frames[i : i + chunk]).latent_dist.mean for i in range(0, frames.shape[0], chunk)]
        )
        latents = latents * self.vae.config.scaling_factor
        return latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()

    def decode_latents(self, latents: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Latents (B, C, F, h, w) -> pixels (B, F, 3, H, W) in [-1, 1]; the VAE runs in float32."""
        b, _, f = latents.shape[:3]
        frames = latents.permute(0, 2, 1, 3, 4).reshape(b * f, -1, *latents.shape[3:])
        if self.vae is None:
            return frames.reshape(b, f, *frames.shape[1:])
        frames = frames.to(self.vae.device, torch.float32) / self.vae.config.scaling_factor
        with torch.autocast(device_type=frames.device.type, enabled=False):
            pixels = torch.cat(
                [self.vae.decode(frames[i : i + chunk]).sample for i in range(0, frames.shape[0], chunk)]
            )
        return pixels.reshape(b, f, *pixels.shape[1:]).clamp(-1, 1)


