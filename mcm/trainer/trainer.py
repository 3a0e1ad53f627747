"""The distillation trainer: load, then loop {micro-batches, optimiser step, log, validate, checkpoint}.

Launch (one process, DDP on one node, several nodes through Kubeflow Trainer's PET_* variables):
    mcm distill --config tiny --output runs/tiny
    torchrun --nproc_per_node 8 -m mcm.cli.main distill --config modelscope --output runs/ms
    torchrun -m mcm.cli.main distill ...   # torchrun reads PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, ...

The micro-step's losses (Eq. 4-9) are computed by :class:`mcm.distill.mcm_step.MCMStep`, a function of the
micro-batch and its draws; this file does what only a trainer knows:
    1. the micro-batch: draw (seed, update, micro-batch)'s noise, encode V to latents (real branch only: a
       generated start discards them), read M (or frames of V)
    2. backward: the student's loss into the LoRA + motion head, the discriminator's into D's heads, each through
       its own loss scaler (fp16), under one ``accelerator.accumulate`` over every trained module (the authors'
       nested contexts stepped every 2 micro-batches and never all-reduced the student)
    3. at each update: all-reduce the non-DDP gradients (motion head, D heads), unscale + clip + step each
       optimiser, move the motion head's EMA target (decay 0.95)
    4. at the logging interval (the only host syncs besides the preemption flag): reduce the terms over ranks,
       grow the penalty weight from the averaged penalty, log; validate; checkpoint.
The global batch is ``optim.global_batch`` (128 in the paper); the accumulation follows from it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from mcm.config.load import config_to_yaml, load_config
from mcm.config.schema import MCMConfig
from mcm.config.training import gradient_accumulation_steps
from mcm.distill.draws import StepNoise, draw_rank_slice, micro_batch_seed
from mcm.distill.mcm_step import MCMStep, MicroBatch, MicroStepLosses
from mcm.distill.step import ConsistencyDistillation
from mcm.motion.representations import build_motion_representation
from mcm.runs.checkpoint import Checkpointer
from mcm.runs.folder import (
    FINAL_DIR,
    FORMAT_VERSION,
    MOTION_EMA_PREFIX,
    MOTION_PREFIX,
    RUN_CONFIG,
    STUDENT_PREFIX,
    check_format,
    strip_prefix,
    with_prefix,
    write_exported_student,
    write_run_info,
)
from mcm.student.checkpointing import enable_gradient_checkpointing
from mcm.student.lora import add_lora, load_lora_state_dict, lora_state_dict, trainable_parameters
from mcm.teachers.registry import load_teacher
from mcm.trainer.adversarial import DiscriminatorTraining, all_reduce_gradients
from mcm.trainer.data_loading import (
    ImagesAsClips,
    build_image_dataset,
    build_image_loader,
    build_loader,
    build_video_dataset,
    real_frames_of_videos,
)
from mcm.trainer.metrics import MetricsLogger
from mcm.trainer.optim import ScaledOptimizer, build_lr_scheduler, build_optimizer
from mcm.trainer.preemption import PreemptionGuard
from mcm.trainer.two_stage import apply_two_stage
from mcm.trainer.validation import run_validation
from mcm.trajectories.mixed import MixedTrajectories
from mcm.utils.tensor_cache import TensorLRU

log = logging.getLogger(__name__)

# Sections that define the model being trained: a resumed run must not change them.
FROZEN_SECTIONS = ("teacher", "student", "distill", "motion", "discriminator", "mixed", "two_stage")
# Init seeds derived from train.seed: the LoRA's is train.seed itself; the discriminator's in trainer.adversarial.
MOTION_HEAD_SEED_OFFSET = 1
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
MB = 2**20


class Trainer:
    # True: encode V on every micro-batch, also where the generated branch discards the latents (the behaviour
    # before issue 27; bench/train_step.py's "old" row and the tests compare against it). Same draws, same losses.
    always_encode = False

    def __init__(self, cfg: MCMConfig, run_dir: str | Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        # Autocast and loss scaling are ours (ScaledOptimizer): accelerate prepares the DDP model and runs the
        # accumulation, but gets mixed_precision "no" so that it creates no shared GradScaler.
        cpu = not torch.cuda.is_available()
        world = PartialState(cpu=cpu).num_processes  # the accumulation follows from the global batch and the world
        self.grad_accum = gradient_accumulation_steps(cfg.optim.global_batch, world, cfg.data.batch_size)
        self.accelerator = Accelerator(gradient_accumulation_steps=self.grad_accum, mixed_precision="no", cpu=cpu)
        acc = self.accelerator
        self.rank, self.world = acc.process_index, acc.num_processes
        self.is_main = acc.is_main_process
        set_seed(cfg.train.seed)  # global RNGs; the step's own draws are seeded per (update, micro-batch, sample)
        self.device = acc.device
        precision = cfg.train.mixed_precision
        self.autocast_dtype = AUTOCAST_DTYPES.get(precision)
        fp16 = precision == "fp16"
        self._prepare_run_dir(resume)

        # Teacher + student: one network, LoRA adapters on it (seeded init).
        self.teacher = load_teacher(cfg.teacher)
        add_lora(self.teacher.network, cfg.student, self.teacher.lora_targets, seed=cfg.train.seed)
        apply_two_stage(self.teacher.network, cfg.two_stage)
        if cfg.train.gradient_checkpointing:
            enable_gradient_checkpointing(self.teacher.network)
        self.teacher.to(self.device)
        self.teacher.network.train()  # the student's pass; the no-grad passes switch to eval mode themselves
        # M(.) of Eq. 6; a learnable head (seeded: every rank builds the same one) trains in the student's
        # optimiser, its EMA copy is the target's M.
        self.motion = build_motion_representation(cfg.motion, self.teacher.latent_channels,
                                                  seed=cfg.train.seed + MOTION_HEAD_SEED_OFFSET)
        self.distill = ConsistencyDistillation(self.teacher, cfg.distill, self.motion).to(self.device)
        self.mixed = MixedTrajectories(self.distill, cfg.distill.lambda_real, cfg.mixed.captions)
        self.params = trainable_parameters(self.teacher.network)
        self.motion_params = self.motion.trainable_parameters()
        optimizer = build_optimizer(self.params + self.motion_params, cfg.optim)
        self.lr_scheduler = build_lr_scheduler(optimizer, cfg.optim)  # stepped by us, once per update
        self.student_net = acc.prepare(self.teacher.network)
        self.optimizer = ScaledOptimizer(optimizer, self.params + self.motion_params, fp16, self.device,
                                         cfg.optim.grad_clip, name="student")
        self.adv = None
        if cfg.discriminator.enabled:
            self.adv = DiscriminatorTraining(cfg.discriminator, self.teacher, self.device, cfg.train.seed, fp16,
                                             cfg.optim)
        self.mcm_step = MCMStep(self.distill, self.mixed, None if self.adv is None else self.adv.adversary,
                                cfg.distill.lambda_adv)
        self.trained_modules = [self.student_net, *self.motion.trainable_modules().values()]
        if self.adv is not None:
            self.trained_modules.append(self.adv.disc)

        self.checkpointer = Checkpointer(self.run_dir, cfg.train.keep_last, self.rank, acc.wait_for_everyone)
        self.metrics = MetricsLogger(self.run_dir, cfg.train.pushgateway_url, enabled=self.is_main)
        self.step = 0  # optimiser updates done
        self.position = 0  # global micro-batches consumed
        self.optimizer_steps = 0
        self.text_cache = TensorLRU(int(cfg.data.text_cache_mb * MB))
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
        wants_images = self.adv is not None or self.mixed.wants_image_captions
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
                check_format(self.run_dir, "--resume")
                saved = load_config(str(path))
                for section in FROZEN_SECTIONS:
                    if getattr(saved, section) != getattr(self.cfg, section):
                        raise ValueError(
                            f"--resume: the '{section}' section differs from the run's {path}; "
                            "start a new --output folder instead"
                        )
            path.write_text(config_to_yaml(self.cfg))
            write_run_info(self.run_dir)
        self.accelerator.wait_for_everyone()

    def _resume(self) -> None:
        latest = self.checkpointer.latest()
        if latest is None:
            log.warning("--resume: no complete checkpoint in %s, starting from scratch", self.run_dir)
            return
        weights, opt_states, state = self.checkpointer.load(latest)
        found = state.get("format_version", 1)
        if found != FORMAT_VERSION:
            raise ValueError(f"--resume: checkpoint {latest} has format version {found}, this mcm reads format "
                             f"version {FORMAT_VERSION}; start a new --output folder")
        load_lora_state_dict(self.teacher.network, strip_prefix(STUDENT_PREFIX, weights))
        self.optimizer.load_state_dict(opt_states["optimizer"])
        self.lr_scheduler.load_state_dict(opt_states["lr_scheduler"])
        self._load_motion(weights)
        if self.adv is not None:
            self.adv.load_weights(weights)
            self.adv.load_optimizer_states(opt_states)
        self.step, self.position, self.optimizer_steps = state["step"], state["position"], state["optimizer_steps"]
        if self.is_main:
            log.info("resumed from %s at update %d", latest, self.step)

    # --- 1. the micro-batch -----------------------------------------------------------------------------
    def text_embeddings(self, captions: list[str]) -> torch.Tensor:
        """Text states (B, L, D) on the device; cached on the CPU (LRU bounded by ``data.text_cache_mb``)."""
        if not self.cfg.data.cache_text_embeddings:
            return self.teacher.encode_text(captions).to(self.device)
        return self.text_cache.get_batch(captions, self.teacher.encode_text, self.device)

    def step_noise(self, micro: int, latent_shape: tuple[int, ...], batch: int) -> StepNoise:
        """This rank's slice of the global micro-batch's draws, seeded by (seed, update, micro-batch, sample).

        Only this rank's samples are drawn; the mixed-trajectory coin is one draw for the global micro-batch, so
        every rank takes the same branch."""
        cfg = self.cfg
        return draw_rank_slice(
            micro_batch_seed(cfg.train.seed, self.step, micro), self.rank * batch, batch, latent_shape,
            cfg.distill.num_ddim_timesteps, cfg.teacher, lambda_real=self.mixed.lambda_real,
            sparse_frames=self.frames_per_video if self.adv is not None else 0,
            frame_sampling=cfg.discriminator.frame_sampling,
        ).to(self.device)

    def latent_shape(self, video: torch.Tensor) -> tuple[int, ...]:
        """(C, F, h, w) of E(video) for pixels (B, F, 3, H, W), without encoding: the VAE's latent channels and
        its spatial down-sampling (each of its stride-2 stages floors the size: H // scale); no VAE: the pixels'."""
        f, c, h, w = video.shape[1:]
        vae = self.teacher.vae
        if vae is None:
            return (c, f, h, w)
        scale = self.teacher.vae_scale_factor
        channels = getattr(vae.config, "latent_channels", self.teacher.latent_channels)
        return (channels, f, h // scale, w // scale)

    def step_inputs(self, batch: dict, micro: int) -> tuple[MicroBatch, StepNoise]:
        """The micro-batch as the step reads it (latents of V, captions, real images) and its draws.

        The draws come first (their layout needs only the latent shape): on a generated micro-batch (Eq. 8) the
        start is the student's one-step sample, so E(video) would be discarded and V is not encoded; the latents
        are then a zero placeholder (an expanded scalar: no memory) of which the step reads only shape and dtype.
        ``always_encode`` restores the encode on every micro-batch (the bench's "old" row, and tests)."""
        video = batch["video"].to(self.device)
        shape = self.latent_shape(video)
        noise = self.step_noise(micro, shape, video.shape[0])
        if noise.generated and not self.always_encode:
            dtype = video.dtype if self.teacher.vae is None else torch.float32  # encode_video's output dtype
            latents = torch.zeros((), device=self.device, dtype=dtype).expand(video.shape[0], *shape)
        else:
            latents = self.teacher.encode_video(video)
            if tuple(latents.shape[1:]) != shape:
                raise ValueError(f"the VAE encoded {tuple(video.shape)} to {tuple(latents.shape)}, but the latent "
                                 f"shape computed without encoding is {shape} (Trainer.latent_shape)")
        captions, real, real_captions = list(batch["caption"]), None, None
        if self.image_batches is not None:  # read on every micro-batch, so the stream position is the step's
            images = next(self.image_batches)
            real, real_captions = images["image"].to(self.device), list(images["caption"])
        elif self.adv is not None:  # frames of V serve as the real images
            real = real_frames_of_videos(video, noise.frames)
            real_captions = [c for c in captions for _ in range(self.frames_per_video)]
        uncond = self.uncond.expand(latents.shape[0], *self.uncond.shape[1:])
        return MicroBatch(latents, captions, uncond, real if self.adv is not None else None, real_captions), noise

    def autocast(self):
        """fp16/bf16 autocast over the whole micro-step (teacher, target, student, D); the VAE opts out."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # --- 2. backward ------------------------------------------------------------------------------------
    def losses(self, batch: dict, micro: int) -> MicroStepLosses:
        """The micro-step's losses (Eq. 4-9, :class:`MCMStep`), under autocast; no backward."""
        inputs, noise = self.step_inputs(batch, micro)
        with self.autocast():
            return self.mcm_step(inputs, noise, self.text_embeddings, self.student_net)

    def micro_step(self, batch: dict, micro: int) -> dict[str, torch.Tensor]:
        """One micro-batch: its losses, the student's backward, then the discriminator's; returns detached terms."""
        out = self.losses(batch, micro)
        self.optimizer.backward(out.student, self.grad_accum)
        if out.discriminator is not None:
            self.adv.optimizer.backward(out.discriminator, self.grad_accum)
        return out.terms

    # --- 3. the update ----------------------------------------------------------------------------------
    def optimizer_step(self) -> Optional[torch.Tensor]:
        """At an accumulation boundary: all-reduce the non-DDP gradients, then each optimiser unscales, clips
        and steps with its own scaler; the EMA target follows. Returns the student's grad norm (else None)."""
        if not self.accelerator.sync_gradients:
            return None
        all_reduce_gradients(self.motion_params + (self.adv.params if self.adv is not None else []))
        grad_norm = self.optimizer.step()
        if self.adv is not None:
            self.adv.optimizer.step()
        self.optimizer_steps += 1
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
                for micro in range(self.grad_accum):
                    guard.maybe_inject(self.step, micro)
                    batch = next(batches)
                    with acc.accumulate(*self.trained_modules):
                        for key, value in self.micro_step(batch, micro).items():
                            terms[key].append(value.detach().float())  # stays on the device: no sync here
                        norm = self.optimizer_step()
                        grad_norm = norm if norm is not None else grad_norm
                    self.position += 1
                self.lr_scheduler.step()
                if self.adv is not None:
                    self.adv.step_lr()
                self.step += 1
                bar.update(1)
                self._after_update(terms, grad_norm, time.perf_counter() - t0)
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

    def _after_update(self, terms: dict[str, list[torch.Tensor]], grad_norm: torch.Tensor, seconds: float) -> None:
        """At the logging interval: every loss term (mean over micro-batches and ranks), the penalty weight's
        growth from the averaged penalty, the log line; then validation and checkpoints."""
        t = self.cfg.train
        if self.step % t.log_every == 0 or self.step == self.cfg.optim.max_steps:
            keys = sorted(terms)  # the same keys, in the same order, on every rank
            stacked = torch.stack([torch.stack(terms[k]).mean() for k in keys]).to(self.device)
            # the host sync of the interval: one all-reduce, one device-to-host copy
            reduced = dict(zip(keys, self.accelerator.reduce(stacked, reduction="mean").tolist()))
            if self.adv is not None and "d_penalty" in reduced:
                self.adv.grow_penalty_weight(reduced["d_penalty"], self.step)
            # loss_cd: the distillation term under its LCM name (same value as loss_mcd), for existing dashboards
            reduced["loss_cd"] = reduced["loss_mcd"]
            clips = self.cfg.optim.global_batch
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
        if not self.motion.trainable_modules():
            return {}
        head = self.motion.head  # LearnableMotion: online + EMA target
        return {**with_prefix(MOTION_PREFIX, head.online.state_dict()),
                **with_prefix(MOTION_EMA_PREFIX, head.target.state_dict())}

    def _load_motion(self, weights: dict[str, torch.Tensor]) -> None:
        if not self.motion.trainable_modules():
            return
        for prefix, module in ((MOTION_PREFIX, self.motion.head.online), (MOTION_EMA_PREFIX, self.motion.head.target)):
            state = strip_prefix(prefix, weights)
            if not state:
                raise ValueError(f"the checkpoint has no '{prefix}*' weights for motion.name={self.cfg.motion.name!r}")
            module.load_state_dict(state)

    def save_checkpoint(self) -> Path:
        weights = with_prefix(STUDENT_PREFIX, lora_state_dict(self.teacher.network))
        weights.update(self._motion_weights())
        optimizer_states = {"optimizer": self.optimizer.state_dict(), "lr_scheduler": self.lr_scheduler.state_dict()}
        if self.adv is not None:
            weights.update(self.adv.weights())
            optimizer_states.update(self.adv.optimizer_states())
        state = {
            "format_version": FORMAT_VERSION,
            "step": self.step,
            "position": self.position,
            "optimizer_steps": self.optimizer_steps,
            "world_size": self.world,
            "grad_accum": self.grad_accum,
            "config_digest": hash_config(self.cfg),
        }
        return self.checkpointer.save(self.step, weights, optimizer_states, state)

    def save_final(self) -> Optional[Path]:
        """``RUN/final``: the exported student (PEFT adapter + config; a merged diffusers UNet when asked)."""
        if not self.is_main:
            return None
        final = write_exported_student(self.teacher.network, config_to_yaml(self.cfg), self.run_dir / FINAL_DIR)
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
