"""Time and peak memory of one distillation micro-step, and of its necessary parts timed alone; and (``--trainer``,
``--profile``) the embedded default's real trainer update.

    python bench/train_step.py [--quick] [--presets small] [--repeats N]   (goals are judged on small, full mode)
    python bench/train_step.py --trainer [--quick] [--repeats N] [--threads 2]   updates per minute, old vs new
    python bench/train_step.py --profile [--settings] [--updates N] [--threads 2]   which passes cost what (old,
                                                                  new; --settings: new and the candidate settings)

Trainer mode (issue 27): the embedded default (params.yaml section ``distill``, preset ``toy_mcm``, its prepared data)
built into :class:`mcm.trainer.trainer.Trainer`s, one per row, each running whole optimiser updates exactly as
``Trainer.train`` does (data loading, micro-step, backward, optimiser steps, EMA, lr schedules; not the logging /
checkpoint work of the interval). Rows: ``old`` = today's behaviour before issue 27 (``Trainer.always_encode``: V is
encoded on every micro-batch, also where the generated branch discards the latents), ``new`` = the trainer as it
is, then candidate *settings* on ``new`` for the lead to weigh (fewer discriminator views, one sparse frame, LoRA
rank 8, the other torch thread count; full mode only): they change the training, the code change does not. Each row runs the same update indices, so the same coins: a
real-branch and a generated-branch update per round, rounds interleaved round-robin over the rows, minimum per
(row, branch); an update's expected time is lambda_real x real + (1 - lambda_real) x generated (Eq. 9), updates per
minute = 60 / that; beside it the process CPU time (steadier under load with one thread). The real branch runs
the same code in ``old`` and ``new``: its ratio, printed as ``info``, is the run's noise. ``--quick``: rows old and
new, one generated warm-up update each, one timed round.
Profile mode: the same updates (half real, half generated, weighted by lambda_real) of ``old`` and ``new``, every
pass timed in place (wall clock, exclusive of nested timed passes; backward split at gradient hooks on the decoded
frames, the decoder's input and the student's prediction), printed as a markdown table
(docs/results/train_step_profile.md). Goal (issue 27): updates per minute of ``new`` >= 1.3x ``old`` (``--trainer``).

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
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from mcm.config.load import load_config  # noqa: E402
from mcm.utils.threads import torch_threads  # noqa: E402
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


# --- trainer mode (issue 27): the embedded default's real update ----------------------------------------------

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
DEFAULT_SECTION = "distill"  # the embedded default: preset toy_mcm with the prepared data
UPDATES_RATIO_TARGET = 1.3  # issue 27: updates per minute of the new step >= 1.3x today's


class TrainerRow:
    """One Trainer of the embedded default (its own run folder) and the update loop of ``Trainer.train``."""

    def __init__(self, overrides: list[str], always_encode: bool = False, threads: Optional[int] = None):
        from mcm.trainer.trainer import Trainer

        os.chdir(REPO)  # params.yaml's data paths are relative to the repository
        self.cfg = load_config(str(PARAMS), overrides, section=DEFAULT_SECTION)
        for path in (self.cfg.data.path, self.cfg.images.path):
            if path and not Path(path).exists():
                raise SystemExit(f"{path} is missing: prepare the embedded default's data first (make pipeline-run, "
                                 "or mcm world / mcm data videos / mcm data images with params.yaml)")
        self.dir = tempfile.TemporaryDirectory(prefix="bench_train_step_")
        self.trainer = Trainer(self.cfg, self.dir.name)
        self.trainer.always_encode = always_encode
        self.threads = threads
        self.batches = iter(self.trainer.loader)

    def update(self, step: int) -> None:
        """Optimiser update number ``step`` (its draws and coins), as one iteration of ``Trainer.train``'s loop."""
        tr = self.trainer
        tr.step = step
        for micro in range(tr.grad_accum):
            batch = next(self.batches)
            with tr.accelerator.accumulate(*tr.trained_modules):
                tr.micro_step(batch, micro)
                tr.optimizer_step()
            tr.position += 1
        tr.lr_scheduler.step()
        if tr.adv is not None:
            tr.adv.step_lr()


def branch_steps(row: TrainerRow, count: int) -> dict[bool, list[int]]:
    """The first ``count`` update indices whose (first) micro-batch takes each branch of Eq. 9 (generated: True)."""
    tr, cfg = row.trainer, row.cfg
    shape = (tr.teacher.latent_channels, cfg.data.num_frames, 1, 1)  # the coin does not depend on the shape
    steps: dict[bool, list[int]] = {False: [], True: []}
    k = 0
    while min(len(v) for v in steps.values()) < count:
        saved, tr.step = tr.step, k
        generated = tr.step_noise(0, shape, 1).generated
        tr.step = saved
        if len(steps[generated]) < count:
            steps[generated].append(k)
        k += 1
        if k > 1000 * count:
            raise RuntimeError("lambda_real leaves one branch empty: nothing to time on it")
    return steps


def trainer_rows(quick: bool, threads: int) -> dict[str, tuple[list[str], bool, Optional[int]]]:
    """row -> (config overrides, always_encode, torch threads or None for --threads). The candidate settings
    change what is trained (the lead weighs them); only old -> new is a code change with the same results."""
    base: list[str] = []
    rows = {"old (today)": (base, True, None), "new": (base, False, None)}
    if quick:
        return rows
    for name, override in (("augment_views 2", "discriminator.augment_views=2"),
                           ("augment_views 1", "discriminator.augment_views=1"),
                           ("sparse_frames 1", "discriminator.sparse_frames=1"),
                           ("lora_rank 8", "student.lora_rank=8")):
        rows[f"new, {name}"] = (base + [override], False, None)
    other = 1 if threads > 1 else 2  # the thread count the run did not use (the default runs at nproc = 2)
    rows[f"new, {other} torch thread{'s' if other > 1 else ''}"] = (base, False, other)
    return rows


def run_trainer_bench(quick: bool, repeats: int, threads: int) -> int:
    """Updates per minute of every row (wall clock), with the process CPU time per update beside it: on a shared
    machine one torch thread's CPU time hardly depends on the load, so its ratios are the steadier (with more
    threads it also counts their waiting)."""
    spec = trainer_rows(quick, threads)
    rows = {name: TrainerRow(overrides, encode, t) for name, (overrides, encode, t) in spec.items()}
    first = next(iter(rows.values()))
    lam = first.cfg.distill.lambda_real
    steps = branch_steps(first, repeats + 1)  # round 0 warms every row up (quick: its generated update only,
    best = {(name, g): float("inf") for name in rows for g in (False, True)}  # which runs every pass but E(V))
    best_cpu = dict(best)
    for r in range(repeats + 1):
        for generated in (False, True):
            if r == 0 and quick and not generated:
                continue
            for name, row in rows.items():
                with torch_threads(row.threads):
                    t0, c0 = time.perf_counter(), time.process_time()
                    row.update(steps[generated][r])
                    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                if r > 0:
                    best[name, generated] = min(best[name, generated], elapsed)
                    best_cpu[name, generated] = min(best_cpu[name, generated], cpu)
    cfg = first.cfg
    print(f"threads={threads} repeats={repeats} mode={'quick (rows old, new)' if quick else 'full'}; "
          f"update = Trainer micro-step(s) + optimiser steps of params.yaml:{DEFAULT_SECTION} (batch "
          f"{cfg.data.batch_size}, {cfg.data.num_frames}x{cfg.data.height}x{cfg.data.width}, augment_views "
          f"{cfg.discriminator.augment_views}, lambda_real {lam}); minimum per branch over the rounds; "
          f"update = {lam} x real + {1 - lam:g} x generated")
    print(f"{'row':24} {'real ms':>9} {'gen ms':>9} {'update ms':>10} {'updates/min':>12} {'vs old':>7} "
          f"{'cpu ms':>9} {'cpu vs old':>10}")

    def expected(table, name):
        return lam * table[name, False] + (1 - lam) * table[name, True]

    old = "old (today)"
    for name in rows:
        wall, cpu = expected(best, name), expected(best_cpu, name)
        print(f"{name:24} {best[name, False] * 1e3:9.1f} {best[name, True] * 1e3:9.1f} {wall * 1e3:10.1f} "
              f"{60.0 / wall:12.1f} {expected(best, old) / wall:7.3f} {cpu * 1e3:9.1f} "
              f"{expected(best_cpu, old) / cpu:10.3f}")
    noise = best["new", False] / best[old, False]
    print(f"info real_branch_new_over_old_time {noise:.3f} (the same code on the real branch: this run's noise)")
    print(f"info toy_default_cpu_time_old_over_new {expected(best_cpu, old) / expected(best_cpu, 'new'):.3f}")
    ratio = expected(best, old) / expected(best, "new")  # updates per minute, new over old
    print(f"GOAL toy_default_updates_per_min_new_over_old {ratio:.3f} {UPDATES_RATIO_TARGET} "
          f"{'PASS' if ratio >= UPDATES_RATIO_TARGET else 'MISS'}")
    return 0


class PassClock:
    """Wall-clock time of named passes, each exclusive of the timed passes nested in it (CPU: synchronous)."""

    def __init__(self):
        self.stack: list[list] = []
        self.totals: dict[str, float] = defaultdict(float)
        self.marks: dict[str, float] = {}
        self.on = False

    @contextmanager
    def region(self, label: str) -> Iterator[None]:
        if not self.on:
            yield
            return
        frame = [label, time.perf_counter(), 0.0]
        self.stack.append(frame)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - frame[1]
            self.stack.pop()
            self.totals[label] += elapsed - frame[2]
            if self.stack:
                self.stack[-1][2] += elapsed

    def inside(self, prefix: str) -> bool:
        return any(f[0].startswith(prefix) for f in self.stack)

    def wrap(self, label: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            with self.region(label):
                return fn(*args, **kwargs)

        return timed

    def mark(self, name: str) -> Callable[[torch.Tensor], None]:
        """A gradient hook that records when backward reaches a tensor."""
        def hook(_grad):
            if self.on:
                self.marks.setdefault(name, time.perf_counter())

        return hook


# The profile's passes, in the order of the table (labels of PassClock regions).
DATA, ENCODE, TEXT, DRAWS = "data loading (videos, images)", "VAE encode of V", "text encoding (cached)", "draws"
TEACHER, TARGET = "teacher guided pass (cond+uncond, 2B) + DDIM", "target pass f(x_{t-s}), no grad"
STUDENT_F, STUDENT_B = "student fwd f(x_t) (LoRA, dropout)", "student bwd (UNet into LoRA)"
HEAD = "motion head (online fwd+bwd, EMA fwd, collapse, EMA update)"
ONE_STEP = "one-step sample f(z, T) (generated branch)"
DECODE_F, DECODE_B = "VAE decode of l sparse frames, fwd", "VAE decode of l sparse frames, bwd"
G_AUG, G_BACKBONE, G_HEADS, G_BWD = ("adv G: augment", "adv G: backbone (frozen)", "adv G: heads + loss fwd",
                                     "adv G: bwd through D (frozen)")
D_AUG, D_BACKBONE = "D step: augment (views x real/fake)", "D step: backbone (views x real/fake, no grad)"
D_HEADS, D_PENALTY, D_BWD = ("D step: heads + hinge fwd", "D step: penalty fwd (interpolates, grad graph)",
                             "D step: bwd (heads, penalty double bwd)")
OPTIM, OTHER = "optimiser steps (student + head, D), lr", "other (loop, losses glue, accumulate)"
PROFILE_ORDER = [DATA, ENCODE, TEXT, DRAWS, TEACHER, TARGET, STUDENT_F, STUDENT_B, HEAD, ONE_STEP, DECODE_F,
                 DECODE_B, G_AUG, G_BACKBONE, G_HEADS, G_BWD, D_AUG, D_BACKBONE, D_HEADS, D_PENALTY, D_BWD, OPTIM,
                 OTHER]


def instrument(row: TrainerRow, clock: PassClock, stack: ExitStack) -> None:
    """Time every pass of ``row``'s update in place (instance attributes and module functions, undone by
    ``stack``). Nothing is computed differently: the wrappers call the originals. The module functions' wrappers
    of several rows nest; only the running row's clock is on, so each pass is counted once, by its own row."""
    import mcm.discriminator.loss as d_loss
    import mcm.distill.adversarial as adversarial
    import mcm.distill.mcm_step as mcm_step

    tr = row.trainer
    grad = torch.is_grad_enabled

    def patch(obj, name, value):
        stack.enter_context(mock.patch.object(obj, name, value))

    patch(tr.teacher, "encode_video", clock.wrap(ENCODE, tr.teacher.encode_video))
    patch(tr, "text_embeddings", clock.wrap(TEXT, tr.text_embeddings))
    patch(tr, "step_noise", clock.wrap(DRAWS, tr.step_noise))
    distill = tr.distill
    patch(distill, "teacher_solver_step", clock.wrap(TEACHER, distill.teacher_solver_step))
    patch(distill, "target", clock.wrap(TARGET, distill.target))
    patch(tr.mixed, "one_step_sample", clock.wrap(ONE_STEP, tr.mixed.one_step_sample))
    consistency_fn = distill.consistency_fn

    def student_fn(*args, **kwargs):
        if not grad():  # inside the target / one-step sample: theirs
            return consistency_fn(*args, **kwargs)
        with clock.region(STUDENT_F):
            out = consistency_fn(*args, **kwargs)
        out.register_hook(clock.mark("student_x0"))
        return out

    patch(distill, "consistency_fn", student_fn)
    motion = tr.motion
    if motion.trainable_modules():
        head = motion.head
        patch(head.online, "forward", clock.wrap(HEAD, head.online.forward))
        patch(head.target, "forward", clock.wrap(HEAD, head.target.forward))
    patch(motion, "ema_update", clock.wrap(HEAD, motion.ema_update))
    batches = row.batches

    class TimedIterator:
        def __init__(self, it):
            self.it = it

        def __next__(self):
            with clock.region(DATA):
                return next(self.it)

    row.batches = TimedIterator(batches)
    stack.callback(setattr, row, "batches", batches)
    if tr.image_batches is not None:
        patch(tr, "image_batches", TimedIterator(tr.image_batches))
    if tr.adv is not None:
        adv = tr.adv.adversary
        patch(adv, "text", clock.wrap(TEXT, adv.text))
        decode = adv.decode

        def timed_decode(frames):
            if grad() and frames.requires_grad:
                frames.register_hook(clock.mark("decode_in"))
            with clock.region(DECODE_F):
                out = decode(frames)
            if out.requires_grad:
                out.register_hook(clock.mark("fake"))
            return out

        patch(adv, "decode", timed_decode)
        patch(mcm_step, "generator_loss", clock.wrap(G_HEADS, mcm_step.generator_loss))
        patch(mcm_step, "discriminator_loss", clock.wrap(D_HEADS, mcm_step.discriminator_loss))
        patch(d_loss, "wgan_gp_penalty", clock.wrap(D_PENALTY, d_loss.wgan_gp_penalty))
        features = tr.adv.disc.features

        def timed_features(pixels):
            if clock.inside(D_PENALTY):
                return features(pixels)
            with clock.region(D_BACKBONE if clock.inside("D step") else G_BACKBONE):
                return features(pixels)

        patch(tr.adv.disc, "features", timed_features)
        preprocess = d_loss.preprocess_per_sample

        def timed_preprocess(*args, **kwargs):
            with clock.region(D_AUG if clock.inside("D step") else G_AUG):
                return preprocess(*args, **kwargs)

        patch(d_loss, "preprocess_per_sample", timed_preprocess)
        patch(adversarial, "preprocess_per_sample", timed_preprocess)
        patch(tr.adv.optimizer, "backward", clock.wrap(D_BWD, tr.adv.optimizer.backward))
        patch(tr.adv.optimizer, "step", clock.wrap(OPTIM, tr.adv.optimizer.step))
        patch(tr.adv, "step_lr", clock.wrap(OPTIM, tr.adv.step_lr))
    patch(tr.optimizer, "step", clock.wrap(OPTIM, tr.optimizer.step))
    patch(tr.lr_scheduler, "step", clock.wrap(OPTIM, tr.lr_scheduler.step))
    student_backward = tr.optimizer.backward

    def timed_student_backward(loss, accumulation_steps=1):
        """The student's backward, split where the gradient reaches the decoded frames, the decoder's input and
        the student's prediction (the engine runs the adversarial branch, then the motion head, then the UNet)."""
        clock.marks = {}
        t0 = time.perf_counter()
        with clock.region(STUDENT_B):
            student_backward(loss, accumulation_steps)
        t1 = time.perf_counter()
        m = clock.marks
        if not clock.on or "student_x0" not in m:
            return
        t_x0 = m["student_x0"]
        t_fake, t_in = m.get("fake", t0), m.get("decode_in", t0)
        if not t0 <= t_fake <= t_in <= t_x0 <= t1:
            raise RuntimeError(f"backward did not run in the assumed order: {m}")
        clock.totals[STUDENT_B] -= t_x0 - t0
        clock.totals[G_BWD] += t_fake - t0
        clock.totals[DECODE_B] += t_in - t_fake
        clock.totals[HEAD] += t_x0 - t_in

    patch(tr.optimizer, "backward", timed_student_backward)


def run_profile(updates: int, threads: int, settings: bool = False) -> int:
    """The per-pass table of ``old`` and ``new`` (``settings``: of ``new`` and the candidate settings instead)."""
    spec = trainer_rows(quick=False, threads=threads)
    names = ([n for n, (_, _, t) in spec.items() if n != "old (today)" and t is None] if settings
             else ["old (today)", "new"])
    rows = {name: TrainerRow(spec[name][0], always_encode=spec[name][1]) for name in names}
    first = next(iter(rows.values()))
    lam = first.cfg.distill.lambda_real
    per_branch = max(1, updates // 2)
    steps = branch_steps(first, per_branch + 1)
    clocks = {name: {g: PassClock() for g in (False, True)} for name in rows}
    totals = {(name, g): 0.0 for name in rows for g in (False, True)}
    with ExitStack() as stack:
        current = {}
        for name, row in rows.items():
            # one clock per row; its totals are moved to the branch's clock after each update
            current[name] = PassClock()
            instrument(row, current[name], stack)
        for r in range(per_branch + 1):
            for generated in (False, True):
                for name, row in rows.items():
                    clock = current[name]
                    clock.totals.clear()
                    clock.on = r > 0
                    t0 = time.perf_counter()
                    with clock.region(OTHER):
                        row.update(steps[generated][r])
                    elapsed = time.perf_counter() - t0
                    clock.on = False
                    if r > 0:
                        totals[name, generated] += elapsed
                        for k, v in clock.totals.items():
                            clocks[name][generated].totals[k] += v
    n = per_branch
    expected = {name: (lam * totals[name, False] + (1 - lam) * totals[name, True]) / n for name in rows}
    cfg = first.cfg
    print(f"Profile of one update of params.yaml:{DEFAULT_SECTION} (batch {cfg.data.batch_size}, "
          f"{cfg.data.num_frames}x{cfg.data.height}x{cfg.data.width}, augment_views "
          f"{cfg.discriminator.augment_views}, lambda_real {lam}), torch threads {threads}: {n} real + {n} "
          f"generated updates per row after one warm-up of each, interleaved; ms per update = lambda_real x "
          f"real + (1 - lambda_real) x generated (mean over the updates).\n")
    head = " | ".join(f"{name} ms | share" for name in names)
    print(f"| pass | {head} | real ms (new) | generated ms (new) |")
    print("|" + "---|" * (1 + 2 * len(names) + 2))
    new = clocks["new"]
    for label in PROFILE_ORDER:
        cells = []
        for name in names:
            ms = (lam * clocks[name][False].totals.get(label, 0.0)
                  + (1 - lam) * clocks[name][True].totals.get(label, 0.0)) / n
            cells.append(f"{ms * 1e3:.1f} | {ms / expected[name] * 100:.1f}%")
        print(f"| {label} | {' | '.join(cells)} | {new[False].totals.get(label, 0.0) / n * 1e3:.1f} | "
              f"{new[True].totals.get(label, 0.0) / n * 1e3:.1f} |")
    cells = " | ".join(f"**{expected[name] * 1e3:.1f}** | 100%" for name in names)
    print(f"| **update** | {cells} | {totals['new', False] / n * 1e3:.1f} | {totals['new', True] / n * 1e3:.1f} |")
    base = names[0]
    print("\nupdates per minute: " + ", ".join(f"{name} {60 / expected[name]:.1f}" for name in names)
          + "; over " + base + ": " + ", ".join(f"{name} {expected[base] / expected[name]:.3f}" for name in names[1:]))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small at batch 1: the four steps only (no parts), one warm-up and one timed repeat; with "
                         "--trainer: rows old and new, one warm-up update and one timed round")
    ap.add_argument("--presets", default=GOAL_PRESET, help="comma-separated: small (goals), tiny (informative)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--trainer", action="store_true",
                    help="updates per minute of the embedded default's trainer update, old vs new and candidate settings")
    ap.add_argument("--profile", action="store_true",
                    help="which passes of the embedded default's trainer update cost what (old and new), markdown")
    ap.add_argument("--updates", type=int, default=20, help="--profile: timed updates per row (half real, half generated)")
    ap.add_argument("--settings", action="store_true",
                    help="--profile: the table of new and the candidate settings (not old)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        return run_profile(args.updates, args.threads, args.settings)
    if args.trainer:
        return run_trainer_bench(args.quick, args.repeats or (1 if args.quick else 3), args.threads)
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
