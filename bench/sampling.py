"""Sampling speed: the teacher's 50-step guided DDIM against the distilled student's 4 steps (issue 8).

    python bench/sampling.py            # all 50 teacher steps (a few minutes on one CPU thread)
    python bench/sampling.py --quick    # under a minute: 10 teacher steps timed, scaled by 5

On the ``small`` preset (random-initialised tiny teacher, one thread), at the same resolution and frame count,
batch 1. The student is served as it would be: the LoRA added (``mcm.student.lora.add_lora``) and merged into
the UNet (``merge_lora``), so a student step costs one plain UNet forward. Everything runs through the real
sampling code (``sample_teacher_latents``, ``sample_student_latents``, ``Teacher.encode_text``,
``Teacher.decode_latents``; end to end: ``mcm.sampler.api.VideoGenerator``, what ``mcm sample`` calls).

Rows:
    teacher loop    DDIM (trailing), standard CFG: one 2B forward (cond + uncond) per step
    student loop    LCM multistep consistency sampling at 1, 2, 4, 8 steps: one B forward per step
    fixed parts     text encoding (cond; the teacher also uncond), VAE decode
    end to end      prompts -> videos: encoding, noise, denoising loop, decode

Goals (issue 8):
    loop      teacher loop / student 4-step loop >= 22 (the ratio of network evaluations is
              50 x 2 / 4 x 1 = 25; a 2B forward costs about twice a B forward)
    e2e       (teacher end to end / student end to end) >= 0.9 x limit, where the limit is what the measured
              fixed parts allow at the evaluation ratio:
                  limit = (fixed_teacher + loop_teacher) / (fixed_student + loop_teacher / 25)
              fixed_teacher = encode cond + encode uncond + decode, fixed_student = encode cond + decode.

Timing: every configuration is called once (warm-up) before it is timed; repeats run round-robin, so that load
from other processes hits every row alike (the student's 4-step loop and end to end, seconds each, take part in
at least 3 rounds, 2 with ``--quick``); the minimum over repeats is reported. With ``--quick`` every warm-up
is a 1-step run of the configuration (same code path and shapes), the teacher loop is timed at 10 steps and
scaled by 5, and the teacher's end to end is not run but taken as its fixed parts plus that loop (its glue,
noise draw and conversion, is well under 0.1% of a 50-step run); the student's end to end is always run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mcm.config.load import load_config  # noqa: E402
from mcm.distill.guidance import cfg_scale_to_lcm_w  # noqa: E402
from mcm.sampler.api import VideoGenerator, default_cfg_scale  # noqa: E402
from mcm.sampler.baselines import sample_teacher_latents  # noqa: E402
from mcm.sampler.lcm import sample_student_latents  # noqa: E402
from mcm.sampler.timing import time_round_robin  # noqa: E402
from mcm.student.lora import add_lora, merge_lora  # noqa: E402
from mcm.teachers.registry import load_teacher  # noqa: E402

PRESET = "small"
PROMPT = "a red ball moving left"
BATCH = 1  # one prompt per call: the (PROMPT, SEED) pair
SEED = 0
TEACHER_SCHEDULER = "ddim"
TEACHER_STEPS = 50
QUICK_TEACHER_STEPS = 10
QUICK_WARMUP_STEPS = 1
STUDENT_STEPS = 4
STUDENT_ROWS = (1, 2, 4, 8)
TEACHER_FORWARDS_PER_STEP = 2  # cond + uncond, batched as 2B
EVAL_RATIO = TEACHER_STEPS * TEACHER_FORWARDS_PER_STEP / STUDENT_STEPS  # 25: network evaluations
LOOP_TARGET = 22.0
E2E_VS_LIMIT_TARGET = 0.9
FIXED_REPEATS_PER_ROUND = 5  # the fixed parts take milliseconds: time them several times per round
STUDENT_GOAL_ROUNDS = 3  # the student rows of the goals take seconds: at least this many rounds
QUICK_STUDENT_GOAL_ROUNDS = 2


def build(preset: str, overrides: list[str]):
    """(config, teacher, served student): two loads of the seeded teacher, the second with its LoRA merged."""
    cfg = load_config(preset, overrides)
    teacher = load_teacher(cfg.teacher)
    student = load_teacher(cfg.teacher)
    add_lora(student.network, cfg.student, student.lora_targets, seed=cfg.train.seed)
    merge_lora(student.network)
    for model in (teacher, student):
        model.network.eval()
    return cfg, teacher, student


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 teacher steps scaled by 5, one repeat (under a minute)")
    ap.add_argument("--preset", default=PRESET, help=f"default {PRESET} (the goals are set on it)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override section.key=value")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (default: 1 with --quick, else 2)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 2)
    timed_teacher_steps = QUICK_TEACHER_STEPS if args.quick else TEACHER_STEPS
    scale = TEACHER_STEPS / timed_teacher_steps

    cfg, teacher, student = build(args.preset, args.overrides)
    guidance = default_cfg_scale(cfg)
    t_gen = VideoGenerator(teacher, cfg, TEACHER_SCHEDULER, timed_teacher_steps, guidance, cfg.data.num_frames)
    s_gen = VideoGenerator(student, cfg, "lcm", STUDENT_STEPS, 0.0, cfg.data.num_frames)
    shape = t_gen.latent_shape()
    z, _ = t_gen.noise([SEED])
    text, uncond = teacher.encode_text([PROMPT]), teacher.encode_text([""])
    s_text = student.encode_text([PROMPT])

    def teacher_loop(steps: int) -> Callable[[], object]:
        return lambda: sample_teacher_latents(
            teacher, TEACHER_SCHEDULER, text, uncond, shape, steps, guidance, torch.Generator(), z
        )

    def student_loop(steps: int) -> Callable[[], object]:
        return lambda: sample_student_latents(student, cfg.distill, s_text, shape, steps, torch.Generator(), z)

    def teacher_e2e(steps: int) -> Callable[[], object]:
        gen = VideoGenerator(teacher, cfg, TEACHER_SCHEDULER, steps, guidance, cfg.data.num_frames)
        return lambda: gen([PROMPT], [SEED])

    fns = {
        "teacher loop": teacher_loop(timed_teacher_steps),
        **{f"student loop {k}": student_loop(k) for k in STUDENT_ROWS},
        "encode cond": lambda: teacher.encode_text([PROMPT]),
        "encode cond+uncond": lambda: (teacher.encode_text([PROMPT]), teacher.encode_text([""])),
        "VAE decode": lambda: teacher.decode_latents(z),
        "student e2e": lambda: s_gen([PROMPT], [SEED]),
    }
    if not args.quick:
        fns["teacher e2e"] = teacher_e2e(timed_teacher_steps)
    warmups = dict(fns)
    if args.quick:  # same code paths and shapes, fewest steps
        s_warm = VideoGenerator(student, cfg, "lcm", QUICK_WARMUP_STEPS, 0.0, cfg.data.num_frames)
        warmups.update({"teacher loop": teacher_loop(QUICK_WARMUP_STEPS),
                        **{f"student loop {k}": student_loop(QUICK_WARMUP_STEPS) for k in STUDENT_ROWS},
                        "student e2e": lambda: s_warm([PROMPT], [SEED])})
    t0 = time.perf_counter()
    for fn in warmups.values():
        fn()
    inner = {k: FIXED_REPEATS_PER_ROUND for k in ("encode cond", "encode cond+uncond", "VAE decode")}
    goal_rounds = max(repeats, QUICK_STUDENT_GOAL_ROUNDS if args.quick else STUDENT_GOAL_ROUNDS)
    rounds = {k: repeats for k in fns}
    rounds.update({k: goal_rounds for k in (f"student loop {STUDENT_STEPS}", "student e2e")})
    best = time_round_robin(fns, rounds, inner)
    elapsed = time.perf_counter() - t0

    loop_t = best["teacher loop"] * scale
    loop_s, e2e_s = best[f"student loop {STUDENT_STEPS}"], best["student e2e"]
    fixed_t = best["encode cond+uncond"] + best["VAE decode"]
    fixed_s = best["encode cond"] + best["VAE decode"]
    e2e_t = best["teacher e2e"] if not args.quick else fixed_t + loop_t
    loop_ratio, e2e_ratio = loop_t / loop_s, e2e_t / e2e_s
    limit = (fixed_t + loop_t) / (fixed_s + loop_t / EVAL_RATIO)

    print(f"preset={args.preset} threads={args.threads} rounds={repeats} (student {STUDENT_STEPS}-step rows: "
          f"{goal_rounds}) latents (B, C, F, h, w) = {(BATCH, *shape)} teacher {TEACHER_SCHEDULER} "
          f"CFG g={guidance} (standard CFG; LCM-form w={cfg_scale_to_lcm_w(guidance)})")
    if args.quick:
        print(f"--quick: the teacher loop is timed at {timed_teacher_steps} steps and scaled by {scale:g} to "
              f"{TEACHER_STEPS} steps; teacher end to end = its fixed parts + that loop (not run); "
              f"every warm-up runs {QUICK_WARMUP_STEPS} step")
    print(f"{'row':22} {'steps':>5} {'forwards':>8} {'time s':>9} {'per step ms':>11}")
    rows = [("teacher loop", TEACHER_STEPS, TEACHER_STEPS * TEACHER_FORWARDS_PER_STEP, loop_t)]
    rows += [(f"student loop {k}", k, k, best[f"student loop {k}"]) for k in STUDENT_ROWS]
    for name, steps, forwards, sec in rows:
        print(f"{name:22} {steps:5d} {forwards:8d} {sec:9.3f} {sec / steps * 1e3:11.1f}")
    for name in ("encode cond", "encode cond+uncond", "VAE decode"):
        print(f"{name:22} {'':5} {'':8} {best[name]:9.4f}")
    print(f"{'teacher e2e':22} {TEACHER_STEPS:5d} {'':8} {e2e_t:9.3f}")
    print(f"{'student e2e':22} {STUDENT_STEPS:5d} {'':8} {e2e_s:9.3f}")
    print(f"loop ratio {loop_ratio:.2f} (forward-count ratio {EVAL_RATIO:g}); end-to-end ratio {e2e_ratio:.2f}, "
          f"limit from the fixed parts {limit:.2f}, ratio/limit {e2e_ratio / limit:.3f}; timing took {elapsed:.1f} s")
    goals = [
        (f"loop_speedup_ddim{TEACHER_STEPS}_vs_student{STUDENT_STEPS}_{args.preset}", loop_ratio, LOOP_TARGET),
        (f"e2e_speedup_vs_limit_{args.preset}", e2e_ratio / limit, E2E_VS_LIMIT_TARGET),
    ]
    for name, measured, target in goals:  # "at least" goals
        print(f"GOAL {name} {measured:.3f} {target} {'PASS' if measured >= target else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
