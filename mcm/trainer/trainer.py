"""The distillation trainer: load, then loop {micro-batches, optimiser step, log, validate, checkpoint}.

Launch (one process, DDP on one node, several nodes through Kubeflow Trainer's PET_* variables):
    mcm distill --config tiny --output runs/tiny
    torchrun --nproc_per_node 8 -m mcm.cli.main distill --config modelscope --output runs/ms
    torchrun -m mcm.cli.main distill ...   # torchrun reads PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, ...

One ``accelerator.accumulate`` covers every trained module (student network, motion head, discriminator; the
authors' nested contexts stepped every 2 micro-batches and never all-reduced the student), so ranks stay
identical and both optimisers step exactly once per ``optim.grad_accum`` micro-batches.

One micro-batch of MCM (Sections 3.1-3.3):
    1. inputs: latents of V, the draws of (seed, update, micro-batch) (t, eps, w, mixed coin, sparse frames),
       real images (M, or frames of V), and for a generated trajectory the one-step student sample (Eq. 7-9)
    2. student backward: MCD loss (Eq. 6) + lambda_adv x adversarial loss (Eq. 4) on l decoded frames of the raw
       student prediction, D frozen                                       -> LoRA + motion-head gradients
    3. discriminator backward: hinge + penalty (Eq. 5) on real images and the detached fakes -> D gradients
At each optimiser step: all-reduce the non-DDP gradients (motion head, D heads), clip, step both optimisers,
then move the motion head's EMA target (decay 0.95).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from mcm.config.load import config_to_yaml, load_config
from mcm.config.schema import MCMConfig
from mcm.distill.adversarial import generator_loss, discriminator_objective
from mcm.distill.step import ConsistencyDistillation, StepNoise, draw_step_noise
from mcm.discriminator.sparse_frames import repeat_per_frame
from mcm.motion.representations import build_motion_representation
from mcm.student.checkpointing import enable_gradient_checkpointing
from mcm.student.lora import add_lora, load_lora_state_dict, lora_state_dict, save_adapter_folder, trainable_parameters
from mcm.teachers.registry import load_teacher
from mcm.trainer.adversarial import DiscriminatorTraining, all_reduce_gradients
from mcm.trainer.checkpoint import Checkpointer
from mcm.trainer.data_loading import (
    ImagesAsClips,
    build_image_dataset,
    build_image_loader,
    build_loader,
    build_video_dataset,
    real_frames_of_videos,
)
from mcm.trainer.two_stage import apply_two_stage
from mcm.trajectories.mixed import MixedTrajectories
from mcm.trainer.metrics import MetricsLogger
from mcm.trainer.optim import build_lr_scheduler, build_optimizer
from mcm.trainer.preemption import PreemptionGuard
from mcm.trainer.validation import run_validation

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"
FINAL_DIR = "final"
EXPORT_CONFIG = "mcm_config.yaml"
STUDENT_PREFIX = "student."
MOTION_PREFIX = "motion_head."  # the online head (trained with the student)
MOTION_EMA_PREFIX = "motion_head_ema."  # its EMA target copy
TEXT_CACHE_SIZE = 4096
# Sections that define the model being trained: a resumed run must not change them.
FROZEN_SECTIONS = ("teacher", "student", "distill", "motion", "discriminator", "mixed", "two_stage")


@dataclass
class StepInputs:
    """What one micro-batch's losses read (this rank's slice). Latents (B, C, F, h, w) are the start points
    (real or one-step generated); ``captions`` condition them; ``real`` (B*l, 3, H, W) with ``real_captions``
    are the discriminator's real images (None without a discriminator)."""

    latents: torch.Tensor
    text: torch.Tensor
    uncond: torch.Tensor
    noise: StepNoise
    captions: list[str]
    real: Optional[torch.Tensor] = None
    real_captions: Optional[list[str]] = None


class Trainer:
    def __init__(self, cfg: MCMConfig, run_dir: str | Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.accelerator = Accelerator(
            gradient_accumulation_steps=cfg.optim.grad_accum,
            mixed_precision=cfg.train.mixed_precision,
            cpu=not torch.cuda.is_available(),
        )
        acc = self.accelerator
        self.rank, self.world = acc.process_index, acc.num_processes
        self.is_main = acc.is_main_process
        set_seed(cfg.train.seed)  # global RNGs; the step's own draws are seeded per (update, micro-batch)
        self.device = acc.device
        self._prepare_run_dir(resume)

        # Teacher + student: one network, LoRA adapters on it.
        self.teacher = load_teacher(cfg.teacher)
        add_lora(self.teacher.network, cfg.student, self.teacher.lora_targets, seed=cfg.train.seed)
        apply_two_stage(self.teacher.network, cfg.two_stage)
        if cfg.train.gradient_checkpointing:
            enable_gradient_checkpointing(self.teacher.network)
        self.teacher.to(self.device)
        self.teacher.network.train()
        # M(.) of Eq. 6; a learnable head trains in the student's optimiser, its EMA copy is the target's M.
        self.motion = build_motion_representation(cfg.motion, self.teacher.latent_channels)
        self.distill = ConsistencyDistillation(self.teacher, cfg.distill, self.motion).to(self.device)
        self.mixed = MixedTrajectories(self.distill)
        self.params = trainable_parameters(self.teacher.network)
        self.motion_params = self.motion.trainable_parameters()
        optimizer = build_optimizer(self.params + self.motion_params, cfg.optim)
        self.lr_scheduler = build_lr_scheduler(optimizer, cfg.optim)  # stepped by us, once per update
        self.student_net, self.optimizer = acc.prepare(self.teacher.network, optimizer)
        self.adv = DiscriminatorTraining(cfg.discriminator, self.teacher, acc) if cfg.discriminator.enabled else None
        self.trained_modules = [self.student_net, *self.motion.trainable_modules().values()]
        if self.adv is not None:
            self.trained_modules.append(self.adv.disc)

        self.checkpointer = Checkpointer(self.run_dir, cfg.train.keep_last, self.rank, acc.wait_for_everyone)
        self.metrics = MetricsLogger(self.run_dir, cfg.train.pushgateway_url, enabled=self.is_main)
        self.step = 0  # optimiser updates done
        self.position = 0  # global micro-batches consumed
        self.optimizer_steps = 0
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.uncond = self.teacher.encode_text([""]).to(self.device)
        if resume:
            self._resume()
        self._build_data()

    def _build_data(self) -> None:
        """Video loader (V; image clips in the spatial stage) and, when used, the image loader (M)."""
        cfg = self.cfg
        images = build_image_dataset(cfg, self.rank, self.world)
        if cfg.two_stage.stage == "spatial":
            if images is None or not hasattr(images, "__len__") or isinstance(images, torch.utils.data.IterableDataset):
                raise ValueError("two_stage.stage='spatial' needs a map-style image set: images.source synthetic or csv")
            self.dataset, images = ImagesAsClips(images), None
        else:
            self.dataset = build_video_dataset(cfg, self.teacher, self.rank, self.world)
        self.loader = build_loader(self.dataset, cfg, self.rank, self.world, start=self.position)
        # One image per fake frame (B x l) with a discriminator; B captions for the generated branch otherwise.
        self.frames_per_video = cfg.discriminator.sparse_frames if self.adv is not None else 1
        wants_images = self.adv is not None or (cfg.distill.lambda_real < 1 and cfg.mixed.captions == "image")
        self.image_batches = None
        if images is not None and wants_images:
            batch = cfg.data.batch_size * self.frames_per_video
            self.image_batches = iter(build_image_loader(images, cfg, self.rank, self.world, self.position, batch))

    # --- set-up -----------------------------------------------------------------------------------------
    def _prepare_run_dir(self, resume: bool) -> None:
        path = self.run_dir / RUN_CONFIG
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume and path.is_file():
                saved = load_config(str(path))
                for section in FROZEN_SECTIONS:
                    if getattr(saved, section) != getattr(self.cfg, section):
                        raise ValueError(
                            f"--resume: the '{section}' section differs from the run's {path}; "
                            "start a new --output folder instead"
                        )
            path.write_text(config_to_yaml(self.cfg))
        self.accelerator.wait_for_everyone()

    def _resume(self) -> None:
        latest = self.checkpointer.latest()
        if latest is None:
            log.warning("--resume: no complete checkpoint in %s, starting from scratch", self.run_dir)
            return
        weights, opt_states, state = self.checkpointer.load(latest)
        load_lora_state_dict(
            self.teacher.network, {k[len(STUDENT_PREFIX):]: v for k, v in weights.items() if k.startswith(STUDENT_PREFIX)}
        )
        self.optimizer.optimizer.load_state_dict(opt_states["optimizer"])
        self.lr_scheduler.load_state_dict(opt_states["lr_scheduler"])
        self._load_motion(weights)
        if self.adv is not None:
            self.adv.load_weights(weights)
            self.adv.load_optimizer_states(opt_states)
        self.step, self.position, self.optimizer_steps = state["step"], state["position"], state["optimizer_steps"]
        if self.is_main:
            log.info("resumed from %s at update %d", latest, self.step)

    # --- one micro-batch --------------------------------------------------------------------------------
    def text_embeddings(self, captions: list[str]) -> torch.Tensor:
        if not self.cfg.data.cache_text_embeddings:
            return self.teacher.encode_text(captions).to(self.device)
        missing = [c for c in dict.fromkeys(captions) if c not in self._text_cache]
        if missing:
            for caption, emb in zip(missing, self.teacher.encode_text(missing)):
                self._text_cache[caption] = emb
                while len(self._text_cache) > TEXT_CACHE_SIZE:
                    self._text_cache.popitem(last=False)
        for c in captions:
            self._text_cache.move_to_end(c)
        return torch.stack([self._text_cache[c] for c in captions]).to(self.device)

    def step_noise(self, micro: int, latent_shape: tuple[int, ...], batch: int) -> StepNoise:
        """This rank's slice of the global micro-batch's draws, seeded by (seed, update, micro-batch).

        The mixed-trajectory coin is one draw for the global micro-batch: every rank takes the same branch."""
        cfg = self.cfg
        seed = (cfg.train.seed * 1_000_003 + self.step) * 1009 + micro
        g = torch.Generator().manual_seed(seed)
        full = draw_step_noise(
            g, batch * self.world, latent_shape, cfg.distill.num_ddim_timesteps, cfg.teacher,
            lambda_real=cfg.distill.lambda_real,
            sparse_frames=cfg.discriminator.sparse_frames if self.adv is not None else 0,
            frame_sampling=cfg.discriminator.frame_sampling,
        )
        return full.slice(self.rank * batch, (self.rank + 1) * batch).to(self.device)

    def step_inputs(self, batch: dict, micro: int) -> StepInputs:
        """1. The micro-batch's start latents, conditions, draws and real images (see the module docstring)."""
        video = batch["video"].to(self.device)
        latents = self.teacher.encode_video(video)
        noise = self.step_noise(micro, tuple(latents.shape[1:]), latents.shape[0])
        captions, real, real_captions = list(batch["caption"]), None, None
        l = self.frames_per_video
        if self.image_batches is not None:  # read on every micro-batch, so the stream position is the step's
            images = next(self.image_batches)
            real, real_captions = images["image"].to(self.device), list(images["caption"])
        elif self.adv is not None:  # frames of V serve as the real images
            real = real_frames_of_videos(video, noise.frames)
            real_captions = [c for c in captions for _ in range(l)]
        if noise.generated and self.cfg.mixed.captions == "image" and real_captions is not None:
            captions = real_captions[::l]
        text = self.text_embeddings(captions)
        uncond = self.uncond.expand(latents.shape[0], *self.uncond.shape[1:])
        latents = self.mixed.start_latents(latents, noise.generated, noise.start_noise, text)  # Eq. 7-8
        return StepInputs(latents, text, uncond, noise, captions, real if self.adv is not None else None, real_captions)

    def student_backward(self, inputs: StepInputs) -> tuple[dict[str, torch.Tensor], Optional[torch.Tensor]]:
        """2. MCD (Eq. 6) + lambda_adv x adversarial (Eq. 4) loss, backward into the LoRA and motion head.

        Returns the logged terms and the fake frames (B*l, 3, H, W) for the discriminator (None without one)."""
        out = self.distill.loss(inputs.latents, inputs.text, inputs.uncond, inputs.noise, student_network=self.student_net)
        loss = out.loss
        terms = {"loss_mcd": out.loss.detach(), "generated_start": torch.tensor(float(inputs.noise.generated))}
        if out.collapse is not None:
            terms["motion_collapse"] = out.collapse
        fake = None
        if self.adv is not None:
            l = inputs.noise.frames.shape[1]
            text = self.adv.text(inputs.captions)
            adv, fake = generator_loss(self.adv.disc, self.adv.decode, out.student_x0, inputs.noise.frames,
                                       None if text is None else repeat_per_frame(text, l), inputs.noise.aug_seeds)
            loss = loss + self.cfg.distill.lambda_adv * adv
            terms["loss_adv_g"] = adv.detach()
        terms["loss"] = loss.detach()
        self.accelerator.backward(loss)
        return terms, None if fake is None else fake.detach()

    def discriminator_backward(self, inputs: StepInputs, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """3. Hinge + gradient penalty (Eq. 5) on real images and the detached fakes, backward into D."""
        l = inputs.noise.frames.shape[1]
        real_text = self.adv.text(inputs.real_captions)
        fake_text = self.adv.text(inputs.captions)
        fake_text = None if fake_text is None else repeat_per_frame(fake_text, l)
        loss, terms = discriminator_objective(self.adv.disc, inputs.real, real_text, fake, fake_text,
                                              inputs.noise.aug_seeds, self.adv.penalty_weight, self.step)
        self.accelerator.backward(loss)
        return terms

    def micro_step(self, batch: dict, micro: int) -> dict[str, torch.Tensor]:
        """One micro-batch: inputs, the student's backward, then the discriminator's; returns detached terms."""
        inputs = self.step_inputs(batch, micro)
        terms, fake = self.student_backward(inputs)
        if self.adv is not None:
            terms.update(self.discriminator_backward(inputs, fake))
        return terms

    def optimizer_step(self) -> Optional[torch.Tensor]:
        """Both optimisers (accelerate skips them inside an accumulation); returns the grad norm at a boundary."""
        acc, grad_norm = self.accelerator, None
        if acc.sync_gradients:
            all_reduce_gradients(self.motion_params + (self.adv.params if self.adv is not None else []))
            grad_norm = acc.clip_grad_norm_(self.params + self.motion_params, self.cfg.optim.grad_clip)
            self.optimizer_steps += 1
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.adv is not None:
            self.adv.optimizer.step()
            self.adv.optimizer.zero_grad(set_to_none=True)
        if acc.sync_gradients:
            self.motion.ema_update()  # the target head follows the online one after each optimiser step
        return grad_norm

    # --- the loop ---------------------------------------------------------------------------------------
    def train(self) -> str:
        """Run to ``optim.max_steps``; returns 'done' or 'preempted'."""
        cfg, acc = self.cfg, self.accelerator
        guard = PreemptionGuard(cfg.train.sigterm_grace_s).install()
        batches = iter(self.loader)
        bar = tqdm(total=cfg.optim.max_steps, initial=self.step, disable=not self.is_main, desc="distill")
        status, grad_norm = "done", torch.tensor(0.0)
        try:
            while self.step < cfg.optim.max_steps:
                t0, terms = time.perf_counter(), defaultdict(list)
                for micro in range(cfg.optim.grad_accum):
                    guard.maybe_inject(self.step, micro)
                    batch = next(batches)
                    with acc.accumulate(*self.trained_modules):
                        for key, value in self.micro_step(batch, micro).items():
                            terms[key].append(value.detach().float().cpu())
                        norm = self.optimizer_step()
                        grad_norm = norm if norm is not None else grad_norm
                    self.position += 1
                self.lr_scheduler.step()
                self.step += 1
                bar.update(1)
                means = {k: torch.stack(v).mean() for k, v in terms.items()}
                self._after_update(means, grad_norm, time.perf_counter() - t0)
                if guard.should_stop(self.device):
                    self.save_checkpoint()
                    status = "preempted"
                    break
            else:
                if self.checkpointer.latest() is None or self._latest_step() != self.step:
                    self.save_checkpoint()
                self.save_final()
        finally:
            bar.close()
            guard.uninstall()
        acc.wait_for_everyone()
        return status

    def _latest_step(self) -> int:
        latest = self.checkpointer.latest()
        return int(latest.name.split("-")[-1]) if latest else -1

    def _after_update(self, terms: dict[str, torch.Tensor], grad_norm: torch.Tensor, seconds: float) -> None:
        """Log every loss term separately (mean over micro-batches and ranks), validate, checkpoint."""
        t = self.cfg.train
        if self.step % t.log_every == 0 or self.step == self.cfg.optim.max_steps:
            keys = sorted(terms)  # the same keys, in the same order, on every rank
            stacked = torch.stack([terms[k] for k in keys]).to(self.device)
            reduced = dict(zip(keys, self.accelerator.reduce(stacked, reduction="mean").tolist()))
            # loss_cd: the distillation term under its LCM name (same value as loss_mcd), for existing dashboards
            reduced["loss_cd"] = reduced["loss_mcd"]
            clips = self.cfg.data.batch_size * self.world * self.cfg.optim.grad_accum
            self.metrics.log(
                self.step,
                {
                    **reduced,
                    "grad_norm": float(grad_norm),
                    "lr": self.lr_scheduler.get_last_lr()[0],
                    "step_time_s": seconds,
                    "samples_per_s": clips / max(seconds, 1e-9),
                },
            )
        if t.validate_every and self.step % t.validate_every == 0:
            if self.is_main:
                self.metrics.log(self.step, run_validation(self.teacher, self.cfg, self.run_dir, self.step))
            self.accelerator.wait_for_everyone()
        if self.step % t.checkpoint_every == 0:
            self.save_checkpoint()

    # --- artefacts --------------------------------------------------------------------------------------
    def _motion_weights(self) -> dict[str, torch.Tensor]:
        modules = self.motion.trainable_modules()
        if not modules:
            return {}
        head = self.motion.head  # LearnableMotion: online + EMA target
        return {
            **{MOTION_PREFIX + k: v for k, v in head.online.state_dict().items()},
            **{MOTION_EMA_PREFIX + k: v for k, v in head.target.state_dict().items()},
        }

    def _load_motion(self, weights: dict[str, torch.Tensor]) -> None:
        if not self.motion.trainable_modules():
            return
        for prefix, module in ((MOTION_PREFIX, self.motion.head.online), (MOTION_EMA_PREFIX, self.motion.head.target)):
            state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
            if not state:
                raise ValueError(f"the checkpoint has no '{prefix}*' weights for motion.name={self.cfg.motion.name!r}")
            module.load_state_dict(state)

    def save_checkpoint(self) -> Path:
        weights = {STUDENT_PREFIX + k: v for k, v in lora_state_dict(self.teacher.network).items()}
        weights.update(self._motion_weights())
        optimizer_states = {
            "optimizer": self.optimizer.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
        }
        if self.adv is not None:
            weights.update(self.adv.weights())
            optimizer_states.update(self.adv.optimizer_states())
        state = {
            "step": self.step,
            "position": self.position,
            "optimizer_steps": self.optimizer_steps,
            "world_size": self.world,
            "config_digest": hash_config(self.cfg),
        }
        return self.checkpointer.save(self.step, weights, optimizer_states, state)

    def save_final(self) -> Optional[Path]:
        """``RUN/final``: a PEFT adapter folder + the config (and a merged diffusers UNet when asked)."""
        if not self.is_main:
            return None
        final = self.run_dir / FINAL_DIR
        save_adapter_folder(self.teacher.network, final)
        (final / EXPORT_CONFIG).write_text(config_to_yaml(self.cfg))
        if self.cfg.train.save_merged:
            from mcm.student.lora import load_adapter_folder, merge_lora

            fresh = load_teacher(self.cfg.teacher)
            merged = merge_lora(load_adapter_folder(fresh.network, final))
            if hasattr(merged, "save_pretrained"):
                merged.save_pretrained(final / "merged" / "unet")
        return final


def hash_config(cfg: MCMConfig) -> str:
    import hashlib

    return hashlib.sha256(config_to_yaml(cfg).encode()).hexdigest()[:16]
