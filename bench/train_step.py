"""Time and peak memory of one distillation micro-step, and of its necessary parts timed alone.

    python bench/train_step.py [--quick] [--presets small] [--repeats N]   (goals are judged on small, full mode)

The step is the library's own :class:`mcm.distill.mcm_step.MCMStep` (the trainer's micro-step without data
loading and optimiser): its losses, then the student's and the discriminator's backward. Latents and text
embeddings are given (no video encoding, no text encoder), as in a training step after data loading.

Rows (each a configuration of MCMStep on the preset's teacher; ``mcm_<preset>`` for the MCM parts):
    lcm     Eq. 3: raw M, no discriminator, real start
    adv     + adversarial (Eq. 4-5) on l decoded frames
    mcd     + MCD through the learnable motion head (Eq. 6)
    mixed   mcd on the generated branch of Eq. 8 (plus the one-step student sample, no grad)
Parts timed alone:
    student fwd+bwd   f_theta(x_t, t) with gradients (through M), and its backward
    teacher guided    the teacher's cond+uncond forward (one 2B batch, no grad) and the DDIM step
    target fwd        f_theta-(x_{t-s}, t - s) (and M_ema), no grad
    adv G fwd+bwd     decode l frames per video through the VAE + frozen D, backward to the latents
    D step            hinge + penalty on real and detached fake frames, backward into D's heads
    one-step sample   f_theta(z, T), no grad (mixed row)
Goals: each step <= 1.15x the sum of its parts (no redundant work); the LCM step's peak memory <= 1.3x the
student's fwd+bwd alone (the teacher shares the weights); the full MCM step (the mcd and mixed rows mixed by
lambda_real, Eq. 9) <= 1.5x the LCM step's time and its peak (the larger branch) <= 1.3x the LCM step's.

Timing: every callable of every row runs once first (warm-up, with the memory profiler), then the rows'
repeats are interleaved round-robin over *all* callables of the preset, and each keeps its minimum: a ratio is
never distorted by which row paid the warm-up or by load from other processes. Peak memory is live tensor
memory at operator granularity from the PyTorch profiler's allocation events (CPU: no allocator counter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from mcm.config.load import load_config  # noqa: E402
from mcm.discriminator.loss import PenaltyWeight, discriminator_loss  # noqa: E402
from mcm.discriminator.model import build_discriminator  # noqa: E402
from mcm.discriminator.sparse_frames import repeat_per_frame  # noqa: E402
from mcm.discriminator.text import DiscriminatorText  # noqa: E402
from mcm.distill.adversarial import generator_loss, vae_frame_decoder  # noqa: E402
from mcm.distill.draws import draw_rank_slice  # noqa: E402
from mcm.distill.losses import consistency_distance  # noqa: E402
from mcm.distill.mcm_step import Adversary, MCMStep, MicroBatch  # noqa: E402
from mcm.distill.step import ConsistencyDistillation  # noqa: E402
from mcm.motion import MotionConfig, build_motion_representation  # noqa: E402
from mcm.student.lora import add_lora, trainable_parameters  # noqa: E402
from mcm.teachers.registry import load_teacher  # noqa: E402
from mcm.trajectories.mixed import MixedTrajectories  # noqa: E402

STEP_VS_PARTS_TARGET = 1.15
PEAK_VS_STUDENT_TARGET = 1.3
MCM_TIME_VS_LCM_TARGET = 1.5
MCM_PEAK_VS_LCM_TARGET = 1.3
GOAL_PRESET = "small"  # the issues set the goals on the small preset
PROMPT = "a red ball moving left"
MB = 2**20


def peak_memory(fn: Callable[[], None]) -> float:
    """Peak live tensor bytes allocated by ``fn`` (allocations net of frees, in time order)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    current = peak = 0
    for e in events:
        current += e.self_cpu_memory_usage
        peak = max(peak, current)
    return float(peak)


class Bench:
    """One teacher with its student LoRA, the MCM modules, fixed inputs, and MCMStep configurations."""

    def __init__(self, preset: str, overrides: list[str]):
        self.cfg = cfg = load_config(f"mcm_{preset}", overrides)
        self.teacher = teacher = load_teacher(cfg.teacher)
        add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=cfg.train.seed)
        teacher.network.train()
        self.motion = build_motion_representation(cfg.motion, teacher.latent_channels, seed=1)
        self.cd_raw = ConsistencyDistillation(teacher, cfg.distill, build_motion_representation(MotionConfig(name="raw")))
        self.cd_mcd = ConsistencyDistillation(teacher, cfg.distill, self.motion)
        self.disc = build_discriminator(cfg.discriminator, seed=2).train()
        self.decode = vae_frame_decoder(teacher)
        self.adversary = Adversary(self.disc, self.decode, DiscriminatorText(cfg.discriminator, teacher, "cpu"),
                                   PenaltyWeight.from_config(cfg.discriminator), cfg.discriminator.sparse_frames)
        self.params = (trainable_parameters(teacher.network) + self.motion.trainable_parameters()
                       + self.disc.trainable_parameters())

        d, f, l = cfg.data, teacher.vae_scale_factor, cfg.discriminator.sparse_frames
        g = torch.Generator().manual_seed(0)
        shape = (d.batch_size, teacher.latent_channels, d.num_frames, d.height // f, d.width // f)
        self.text = teacher.encode_text([PROMPT] * d.batch_size)
        uncond = teacher.encode_text([""] * d.batch_size)
        noise = draw_rank_slice(0, 0, shape[0], shape[1:], cfg.distill.num_ddim_timesteps, cfg.teacher,
                                lambda_real=0.0, sparse_frames=l)
        noise.index[:] = cfg.distill.num_ddim_timesteps // 2  # a mid-trajectory step, not the pure-noise top
        self.noise_real, self.noise_generated = replace(noise, generated=False), noise
        latents = torch.randn(shape, generator=g)
        with torch.no_grad():  # fixed real frames for the D step and the parts
            self.real = torch.rand((d.batch_size * l, 3, d.height, d.width), generator=g) * 2 - 1
        self.batch = MicroBatch(latents, [PROMPT] * d.batch_size, uncond, self.real, [PROMPT] * d.batch_size * l)
        self.encode = lambda captions: self.text  # noqa: E731  (the captions are fixed)
        # inputs of the parts timed alone, from the real branch
        cd = self.cd_raw
        self.x_t, self.t = cd.noisy_start(latents, noise.noise, noise.index)
        self.x_prev = cd.teacher_solver_step(self.x_t, self.t, self.text, uncond, noise.w)
        self.t_prev = cd.solver.previous_timestep(self.t)
        self.target = cd.target(self.x_prev, self.t_prev, self.text)
        self.d_text = repeat_per_frame(self.adversary.text([PROMPT] * d.batch_size), l)
        with torch.no_grad():
            self.fake = self.decode(self.target[:, :, 0].repeat_interleave(l, dim=0))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, mcm_step: MCMStep, generated: bool) -> Callable[[], None]:
        """The trainer's micro-step on fixed inputs: MCMStep's losses, then both backward passes."""
        noise = self.noise_generated if generated else self.noise_real

        def run():
            out = mcm_step(self.batch, noise, self.encode)
            out.student.backward()
            if out.discriminator is not None:
                out.discriminator.backward()
            self.zero_grad()

        return run

    def parts(self, cd: ConsistencyDistillation, adversarial: bool) -> dict[str, Callable[[], None]]:
        def student_fwd_bwd():
            f = cd.consistency_fn(self.x_t, self.t, self.text)
            with torch.no_grad():
                target_m = cd.motion(self.target, target=True)
            consistency_distance(cd.cfg.distance, cd.motion(f), target_m, cd.cfg.huber_c).backward()
            self.zero_grad()

        def teacher_guided():
            cd.teacher_solver_step(self.x_t, self.t, self.text, self.batch.uncond, self.noise_real.w)

        def target_fwd():
            with torch.no_grad():
                cd.motion(cd.target(self.x_prev, self.t_prev, self.text), target=True)

        def adv_generator():
            x0 = self.target.detach().requires_grad_(True)
            adv, _ = generator_loss(self.disc, self.decode, x0, self.noise_real.frames, self.d_text,
                                    self.noise_real.aug_seeds)
            adv.backward()
            self.zero_grad()

        def d_step():
            loss, _ = discriminator_loss(self.disc, self.real, self.d_text, self.fake, self.d_text,
                                         self.noise_real.aug_seeds, self.adversary.penalty_weight.weight)
            loss.backward()
            self.zero_grad()

        parts = {"student fwd+bwd": student_fwd_bwd, "teacher guided": teacher_guided, "target fwd": target_fwd}
        if adversarial:
            parts.update({"adv G fwd+bwd": adv_generator, "D step": d_step})
        return parts

    def rows(self) -> dict[str, tuple[Callable[[], None], dict[str, Callable[[], None]]]]:
        """row -> (the step, its parts)."""
        lam, lambda_adv = self.cfg.distill.lambda_real, self.cfg.distill.lambda_adv
        lcm = MCMStep(self.cd_raw, MixedTrajectories(self.cd_raw, 1.0), None, lambda_adv)
        adv = MCMStep(self.cd_raw, MixedTrajectories(self.cd_raw, 1.0), self.adversary, lambda_adv)
        mixed = MixedTrajectories(self.cd_mcd, lam)
        mcm = MCMStep(self.cd_mcd, mixed, self.adversary, lambda_adv)

        def one_step_sample():
            mixed.one_step_sample(self.noise_generated.start_noise, self.text)

        return {
            "lcm": (self.step(lcm, False), self.parts(self.cd_raw, False)),
            "adv": (self.step(adv, False), self.parts(self.cd_raw, True)),
            "mcd": (self.step(mcm, False), self.parts(self.cd_mcd, True)),
            "mixed": (self.step(mcm, True), {"one-step sample": one_step_sample, **self.parts(self.cd_mcd, True)}),
        }


def time_round_robin(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Minimum time of each callable over ``repeats`` rounds, one call of each per round (already warm)."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small at batch 1: the four steps only (no parts), one warm-up and one timed repeat")
    ap.add_argument("--presets", default=GOAL_PRESET, help="comma-separated: small (goals), tiny (informative)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    # quick: the small model at batch 1 and 4 frames, so that it stays near a minute on one thread
    overrides = ["data.batch_size=1", "data.num_frames=4"] if args.quick else []

    goals, lines = [], []
    for preset in args.presets.split(","):
        bench = Bench(preset, overrides)
        rows = bench.rows()
        if args.quick:  # the steps alone: the parts (and their goals) are the full mode's
            rows = {row: (step, {}) for row, (step, _) in rows.items()}
        fns = {(row, k): fn for row, (step, parts) in rows.items() for k, fn in {"step": step, **parts}.items()}
        if args.quick:  # one plain warm-up; peak memory (the profiler triples a call's time) is the full mode's
            for fn in fns.values():
                fn()
            peaks = {key: float("nan") for key in fns}
        else:
            peaks = {key: peak_memory(fn) for key, fn in fns.items()}  # also every callable's warm-up
            for fn in fns.values():  # a second warm-up outside the profiler
                fn()
        times = time_round_robin(fns, repeats)
        steps = {}
        for row, (_, parts) in rows.items():
            for k in ("step", *parts):
                lines.append(f"{preset:8} {row:6} {k:18} {times[row, k] * 1e3:9.1f} {peaks[row, k] / MB:9.2f}")
            steps[row] = (times[row, "step"], peaks[row, "step"])
            if not parts:
                continue
            parts_sum = sum(times[row, k] for k in parts)
            lines.append(f"{preset:8} {row:6} {'sum of parts':18} {parts_sum * 1e3:9.1f}")
            goals.append((preset, f"step_vs_parts_{row}_{preset}", times[row, "step"] / parts_sum, STEP_VS_PARTS_TARGET))
        if not args.quick:
            goals.append((preset, f"peak_vs_student_lcm_{preset}",
                          peaks["lcm", "step"] / peaks["lcm", "student fwd+bwd"], PEAK_VS_STUDENT_TARGET))
        lam = bench.cfg.distill.lambda_real  # share of real-branch steps (Eq. 9)
        mcm_time = lam * steps["mcd"][0] + (1 - lam) * steps["mixed"][0]
        mcm_peak = max(steps["mcd"][1], steps["mixed"][1])
        lines.append(f"{preset:8} {'mcm':6} {f'step @ lambda={lam}':18} {mcm_time * 1e3:9.1f} {mcm_peak / MB:9.2f}")
        goals.append((preset, f"mcm_time_vs_lcm_{preset}", mcm_time / steps["lcm"][0], MCM_TIME_VS_LCM_TARGET))
        if not args.quick:
            goals.append((preset, f"mcm_peak_vs_lcm_{preset}", mcm_peak / steps["lcm"][1], MCM_PEAK_VS_LCM_TARGET))
    mode = ("quick: batch 1, 4 frames, steps only, no memory profile (the other goals are the full mode's)"
            if args.quick else "full")
    print(f"threads={args.threads} repeats={repeats} mode={mode}; step = mcm.distill.mcm_step.MCMStep + backward")
    print(f"{'preset':8} {'row':6} {'part':18} {'time ms':>9} {'peak MB':>9}")
    print("\n".join(lines))
    for preset, name, measured, target in goals:
        if preset != GOAL_PRESET:
            print(f"info {name} {measured:.3f} (goal {target} is judged on {GOAL_PRESET})")
    for preset, name, measured, target in goals:
        if preset == GOAL_PRESET:
            print(f"GOAL {name} {measured:.3f} {target} {'PASS' if measured <= target else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
