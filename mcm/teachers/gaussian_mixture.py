"""An analytic teacher: the exact denoiser of a Gaussian mixture (correctness tests of the distillation).

Data x0 ~ sum_k pi_k N(mu_k, s^2 I) in R^d, stored as latents (B, d, 1, 1, 1). For x_t = a x0 + sigma eps
the posterior mean is closed form:
    E[x0 | x_t] = sum_k r_k(x_t) (mu_k + a s^2 / (a^2 s^2 + sigma^2) (x_t - a mu_k)),
with responsibilities r_k under N(a mu_k, (a^2 s^2 + sigma^2) I), so eps*(x_t) = (x_t - a E[x0|x_t]) / sigma.

The network is that exact eps plus a correction MLP whose last layer starts at zero: with adapters disabled
(or before training) it *is* the teacher; a LoRA on the MLP is the student.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from mcm.teachers.config import TeacherConfig
from mcm.teachers.base import Teacher, alphas_cumprod_from_betas

GMM_RADIUS = 2.0  # modes on a circle (d = 2) or the first coordinate axes (d > 2)
GMM_NUM_MODES = 4
GMM_STD = 0.4
GMM_HIDDEN = 256
GMM_TIME_FEATURES = 32
GMM_LORA_TARGETS = r"correction\.[024]"


@dataclass
class GaussianMixture:
    means: torch.Tensor  # (K, d)
    std: float
    weights: torch.Tensor  # (K,)

    @classmethod
    def default(cls, dim: int) -> "GaussianMixture":
        angles = torch.arange(GMM_NUM_MODES) * (2 * math.pi / GMM_NUM_MODES)
        means = torch.zeros(GMM_NUM_MODES, dim)
        means[:, 0] = GMM_RADIUS * torch.cos(angles)
        if dim > 1:
            means[:, 1] = GMM_RADIUS * torch.sin(angles)
        return cls(means=means, std=GMM_STD, weights=torch.full((GMM_NUM_MODES,), 1.0 / GMM_NUM_MODES))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.means[k] + self.std * torch.randn(n, self.means.shape[1], generator=generator)

    def posterior_mean(self, x_t: torch.Tensor, a: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t] for x_t (B, d), per-sample a, sigma (B, 1)."""
        mu = self.means.to(x_t)  # (K, d)
        var = a**2 * self.std**2 + sigma**2  # (B, 1)
        sq = ((x_t[:, None, :] - a[:, None] * mu[None]) ** 2).sum(-1)  # (B, K)
        logits = torch.log(self.weights.to(x_t))[None] - 0.5 * sq / var
        r = torch.softmax(logits, dim=-1)  # (B, K)
        gain = a * self.std**2 / var  # (B, 1)
        per_mode = mu[None] + gain[:, None] * (x_t[:, None, :] - a[:, None] * mu[None])  # (B, K, d)
        return (r[..., None] * per_mode).sum(1)


class _Output:
    def __init__(self, sample: torch.Tensor):
        self.sample = sample


class GaussianMixtureDenoiser(nn.Module):
    """eps(x_t, t) = exact mixture eps + correction MLP (zero at initialisation)."""

    def __init__(self, mixture: GaussianMixture, alphas_cumprod: torch.Tensor):
        super().__init__()
        dim = mixture.means.shape[1]
        self.mixture = mixture
        self.register_buffer("alphas_cumprod", alphas_cumprod.clone(), persistent=False)
        self.num_train_timesteps = alphas_cumprod.shape[0]
        self.correction = nn.Sequential(
            nn.Linear(dim + GMM_TIME_FEATURES, GMM_HIDDEN),
            nn.SiLU(),
            nn.Linear(GMM_HIDDEN, GMM_HIDDEN),
            nn.SiLU(),
            nn.Linear(GMM_HIDDEN, dim),
        )
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(-math.log(1e4) * torch.arange(GMM_TIME_FEATURES // 2, device=t.device) / (GMM_TIME_FEATURES // 2))
        ang = (t.float() / self.num_train_timesteps * 1000)[:, None] * freqs[None]
        return torch.cat([ang.sin(), ang.cos()], dim=-1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states=None) -> _Output:
        b = sample.shape[0]
        x = sample.reshape(b, -1).float()
        t = timestep.reshape(-1).expand(b) if timestep.numel() == 1 else timestep.reshape(b)
        abar = self.alphas_cumprod[t.long()].float()[:, None]
        a, sigma = abar.sqrt(), (1 - abar).sqrt()
        eps_exact = (x - a * self.mixture.posterior_mean(x, a, sigma)) / sigma
        eps = eps_exact + self.correction(torch.cat([x, self.time_features(t)], dim=-1))
        return _Output(eps.to(sample.dtype).reshape(sample.shape))


class GaussianMixtureDataset(Dataset):
    """Samples of the mixture as one-frame 'videos' (1, d, 1, 1), deterministic per index."""

    def __init__(self, mixture: GaussianMixture, size: int, seed: int = 0):
        self.mixture, self.size, self.seed = mixture, size, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.size:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        x = self.mixture.sample(1, g)[0]
        return {"video": x.reshape(1, -1, 1, 1), "caption": ""}


def build_gaussian_mixture_teacher(cfg: TeacherConfig) -> Teacher:
    schedule = {
        "num_train_timesteps": cfg.num_train_timesteps,
        "beta_start": cfg.beta_start,
        "beta_end": cfg.beta_end,
        "beta_schedule": cfg.beta_schedule or "scaled_linear",
    }
    mixture = GaussianMixture.default(cfg.gmm_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.tiny.seed)
        network = GaussianMixtureDenoiser(mixture, alphas_cumprod_from_betas(**schedule))
    network.requires_grad_(False)
    return Teacher(
        name="gaussian_mixture",
        network=network,
        schedule=schedule,
        lora_targets=GMM_LORA_TARGETS,
        latent_channels=cfg.gmm_dim,
        components={"mixture": mixture},
        synthetic_dataset_fn=lambda data_cfg, seed: GaussianMixtureDataset(mixture, data_cfg.synthetic_size, seed),
    )
