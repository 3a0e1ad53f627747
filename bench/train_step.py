"""Time and peak memory of one distillation step, and of its necessary parts timed alone.

    python bench/train_step.py [--quick] [--presets tiny,small] [--repeats N]

Latents and text embeddings are given (no VAE, no text encoder), as in a training step after data loading.
Parts of the LCM step (Eq. 1-3):
    student fwd+bwd   f_theta(x_t, t) with gradients, and its backward
    teacher guided    the teacher's cond+uncond forward (one 2B batch, no grad) and the DDIM step
    target fwd        f_theta-(x_{t-s}, t - s), no grad
Goals (issue 2): step <= 1.15x the sum of its parts (no redundant work); step peak memory <= 1.3x the student's
fwd+bwd alone (the teacher shares the weights). Timings are the minimum over repeats, measured round-robin so
that load from other processes hits every row alike; peak memory is live tensor memory at operator
granularity, from the PyTorch profiler's allocation events (CPU: there is no allocator counter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from mcm.config import load_config  # noqa: E402
from mcm.distill.losses import consistency_distance  # noqa: E402
from mcm.distill.step import ConsistencyDistillation, draw_step_noise  # noqa: E402
from mcm.student.lora import add_lora, trainable_parameters  # noqa: E402
from mcm.teachers.registry import load_teacher  # noqa: E402

STEP_VS_PARTS_TARGET = 1.15
PEAK_VS_STUDENT_TARGET = 1.3
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


@dataclass
class Setup:
    """A teacher with its student LoRA, a distillation step and fixed inputs for one preset."""

    name: str
    cd: ConsistencyDistillation
    latents: torch.Tensor
    text: torch.Tensor
    uncond: torch.Tensor
    params: list

    @classmethod
    def build(cls, preset: str, overrides: list[str]) -> "Setup":
        cfg = load_config(preset, overrides)
        teacher = load_teacher(cfg.teacher)
        add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=cfg.train.seed)
        teacher.network.train()
        cd = ConsistencyDistillation(teacher, cfg.distill)
        d, f = cfg.data, teacher.vae_scale_factor
        g = torch.Generator().manual_seed(0)
        shape = (d.batch_size, teacher.latent_channels, d.num_frames, d.height // f, d.width // f)
        text = teacher.encode_text(["a red ball moving left"] * d.batch_size)
        uncond = teacher.encode_text([""] * d.batch_size)
        noise = draw_step_noise(g, shape[0], shape[1:], cfg.distill.num_ddim_timesteps, cfg.teacher)
        noise.index[:] = cfg.distill.num_ddim_timesteps // 2  # a mid-trajectory step, not the pure-noise top
        setup = cls(preset, cd, torch.randn(shape, generator=g), text, uncond, trainable_parameters(teacher.network))
        setup.noise = noise
        setup.x_t, setup.t = cd.noisy_start(setup.latents, noise.noise, noise.index)
        setup.x_prev = cd.teacher_solver_step(setup.x_t, setup.t, text, uncond, noise.w)
        setup.t_prev = cd.solver.previous_timestep(setup.t)
        setup.target = cd.target(setup.x_prev, setup.t_prev, text)
        return setup

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def lcm_row(s: Setup) -> tuple[Callable[[], None], dict[str, Callable[[], None]]]:
    """(the whole LCM step, its parts) as callables."""
    cd = s.cd

    def step():
        out = cd.loss(s.latents, s.text, s.uncond, s.noise)
        out.loss.backward()
        s.zero_grad()

    def student_fwd_bwd():
        f = cd.consistency_fn(s.x_t, s.t, s.text)
        consistency_distance(cd.cfg.distance, f, s.target, cd.cfg.huber_c).backward()
        s.zero_grad()

    def teacher_guided():
        cd.teacher_solver_step(s.x_t, s.t, s.text, s.uncond, s.noise.w)

    def target_fwd():
        cd.target(s.x_prev, s.t_prev, s.text)

    return step, {"student fwd+bwd": student_fwd_bwd, "teacher guided": teacher_guided, "target fwd": target_fwd}


ROWS = {"lcm": lcm_row}


def time_round_robin(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Minimum time of each callable over ``repeats`` rounds (call them once before: warm-up)."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 5)

    goals, lines = [], []
    header = f"{'preset':8} {'row':6} {'part':18} {'time ms':>9} {'peak MB':>9}"
    for preset in args.presets.split(","):
        setup = Setup.build(preset, [])
        for row, builder in ROWS.items():
            step, parts = builder(setup)
            fns = {"step": step, **parts}
            peaks = {k: peak_memory(fn) for k, fn in fns.items()}  # also the warm-up
            times = time_round_robin(fns, repeats)
            for k in fns:
                lines.append(f"{preset:8} {row:6} {k:18} {times[k] * 1e3:9.1f} {peaks[k] / MB:9.2f}")
            parts_sum = sum(times[k] for k in parts)
            lines.append(f"{preset:8} {row:6} {'sum of parts':18} {parts_sum * 1e3:9.1f}")
            ratio_t = times["step"] / parts_sum
            ratio_m = peaks["step"] / peaks["student fwd+bwd"]
            goals.append(("step_vs_parts_" + f"{row}_{preset}", ratio_t, STEP_VS_PARTS_TARGET))
            goals.append(("peak_vs_student_" + f"{row}_{preset}", ratio_m, PEAK_VS_STUDENT_TARGET))
    print(f"threads={args.threads} repeats={repeats}")
    print(header)
    print("\n".join(lines))
    for name, measured, target in goals:
        print(f"GOAL {name} {measured:.3f} {target} {'PASS' if measured <= target else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
