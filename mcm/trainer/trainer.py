"""The distillation trainer: load, then loop {micro-batches, optimiser step, log, validate, checkpoint}.

Launch (one process, DDP on one node, several nodes through Kubeflow Trainer's PET_* variables):
    mcm distill --config tiny --output runs/tiny
    torchrun --nproc_per_node 8 -m mcm.cli.main distill --config modelscope --output runs/ms
    torchrun -m mcm.cli.main distill ...   # torchrun reads PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, ...

One ``accelerator.accumulate`` covers every trained module (the authors' nested contexts stepped every 2
micro-batches and never all-reduced the student), so ranks stay identical and the optimiser steps exactly once
per ``optim.grad_accum`` micro-batches.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from mcm.config.load import config_to_yaml, load_config
from mcm.config.schema import MCMConfig
from mcm.distill.step import ConsistencyDistillation, StepNoise, draw_step_noise
from mcm.student.lora import add_lora, load_lora_state_dict, lora_state_dict, save_adapter_folder, trainable_parameters
from mcm.teachers.registry import load_teacher
from mcm.trainer.checkpoint import Checkpointer
from mcm.trainer.data_loading import build_loader, build_video_dataset
from mcm.trainer.metrics import MetricsLogger
from mcm.trainer.optim import build_lr_scheduler, build_optimizer
from mcm.trainer.preemption import PreemptionGuard
from mcm.trainer.validation import run_validation

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"
FINAL_DIR = "final"
EXPORT_CONFIG = "mcm_config.yaml"
STUDENT_PREFIX = "student."
TEXT_CACHE_SIZE = 4096
# Sections that define the model being trained: a resumed run must not change them.
FROZEN_SECTIONS = ("teacher", "student", "distill")


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
        if cfg.train.gradient_checkpointing:
            self.teacher.network.enable_gradient_checkpointing()
        self.teacher.to(self.device)
        self.teacher.network.train()
        self.distill = ConsistencyDistillation(self.teacher, cfg.distill).to(self.device)
        self.params = trainable_parameters(self.teacher.network)
        optimizer = build_optimizer(self.params, cfg.optim)
        self.lr_scheduler = build_lr_scheduler(optimizer, cfg.optim)  # stepped by us, once per update
        self.student_net, self.optimizer = acc.prepare(self.teacher.network, optimizer)

        self.checkpointer = Checkpointer(self.run_dir, cfg.train.keep_last, self.rank, acc.wait_for_everyone)
        self.metrics = MetricsLogger(self.run_dir, cfg.train.pushgateway_url, enabled=self.is_main)
        self.step = 0  # optimiser updates done
        self.position = 0  # global micro-batches consumed
        self.optimizer_steps = 0
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.uncond = self.teacher.encode_text([""]).to(self.device)
        if resume:
            self._resume()
        self.dataset = build_video_dataset(cfg, self.teacher)
        self.loader = build_loader(self.dataset, cfg, self.rank, self.world, start=self.position)

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
        """This rank's slice of the global micro-batch's draws, seeded by (seed, update, micro-batch)."""
        seed = (self.cfg.train.seed * 1_000_003 + self.step) * 1009 + micro
        g = torch.Generator().manual_seed(seed)
        full = draw_step_noise(g, batch * self.world, latent_shape, self.cfg.distill.num_ddim_timesteps, self.cfg.teacher)
        return full.slice(self.rank * batch, (self.rank + 1) * batch).to(self.device)

    def micro_step(self, batch: dict, micro: int) -> torch.Tensor:
        latents = self.teacher.encode_video(batch["video"].to(self.device))
        text = self.text_embeddings(batch["caption"])
        uncond = self.uncond.expand(latents.shape[0], *self.uncond.shape[1:])
        noise = self.step_noise(micro, tuple(latents.shape[1:]), latents.shape[0])
        out = self.distill.loss(latents, text, uncond, noise, student_network=self.student_net)
        return out.loss

    # --- the loop ---------------------------------------------------------------------------------------
    def train(self) -> str:
        """Run to ``optim.max_steps``; returns 'done' or 'preempted'."""
        cfg, acc = self.cfg, self.accelerator
        guard = PreemptionGuard(cfg.train.sigterm_grace_s).install()
        batches = iter(self.loader)
        bar = tqdm(total=cfg.optim.max_steps, initial=self.step, disable=not self.is_main, desc="distill")
        status = "done"
        try:
            while self.step < cfg.optim.max_steps:
                t0, losses = time.perf_counter(), []
                for micro in range(cfg.optim.grad_accum):
                    guard.maybe_inject(self.step, micro)
                    batch = next(batches)
                    with acc.accumulate(self.student_net):
                        loss = self.micro_step(batch, micro)
                        acc.backward(loss)
                        if acc.sync_gradients:
                            grad_norm = acc.clip_grad_norm_(self.params, cfg.optim.grad_clip)
                            self.optimizer_steps += 1
                        self.optimizer.step()
                        self.optimizer.zero_grad(set_to_none=True)
                    self.position += 1
                    losses.append(loss.detach())
                self.lr_scheduler.step()
                self.step += 1
                bar.update(1)
                self._after_update(torch.stack(losses).mean(), grad_norm, time.perf_counter() - t0)
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

    def _after_update(self, loss: torch.Tensor, grad_norm: torch.Tensor, seconds: float) -> None:
        t = self.cfg.train
        if self.step % t.log_every == 0 or self.step == self.cfg.optim.max_steps:
            loss = self.accelerator.reduce(loss.to(self.device), reduction="mean")
            clips = self.cfg.data.batch_size * self.world * self.cfg.optim.grad_accum
            self.metrics.log(
                self.step,
                {
                    "loss_cd": loss.item(),
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
    def save_checkpoint(self) -> Path:
        weights = {STUDENT_PREFIX + k: v for k, v in lora_state_dict(self.teacher.network).items()}
        optimizer_states = {
            "optimizer": self.optimizer.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
        }
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
