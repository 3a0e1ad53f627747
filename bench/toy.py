"""The small world's teacher, measured against the world's ground truth (issue 9).

    python bench/toy.py --write    # 64 seen + 64 zero-shot prompts; the default distilled on 5 seeds
    python bench/toy.py --quick    # 8 + 8 prompts, 10 DDIM steps, the runs/LATEST student (marked in the output)

The teacher is loaded from the shipped assets through the real ModelScope loader (preset ``toy``) and sampled
with the real sampler (``mcm.sampler.api.build_video_generator``, trailing DDIM, standard CFG at the preset's
default scale). Its videos are judged by the world's frozen evaluation networks (``assets/toy/eval``) and
pixel statistics (``mcm.eval.toy``):

    prompt accuracy   the attribute classifiers read the prompt's shape, colour and direction (all three),
                      with the 95% Wilson interval, on seen prompts and on zero-shot (held-out) prompts
    direction         prompted against drawn direction (both sets), and the sign errors (the opposite way drawn):
                      what a teacher blind to frame order gets wrong (mcm.world.teacher: the frame clock)
    watermark rate    frames the detector flags: the teacher's, V's (its training data) and M's (clean)
    sharpness         chroma edge strength (mcm.eval.toy.sharpness): the teacher's against V's and M's
    asset sizes       each model and all together against the issue's limits (10 MB, 30 MB)

Goals (issue 9): seen >= 90%, zero-shot >= 70% (64 prompts each); the teacher's watermark rate >= 80% and
M's <= 5%; the teacher's sharpness within 10% of V's and below M's; every model <= 10 MB, all <= 30 MB.

The students (issue 27): the embedded default (params.yaml's ``distill`` section) distilled on 5 training seeds
(``--seeds``; runs in ``--runs``, reused when finished, resumed when not: five full distillations of the default
from scratch), each evaluated by ``mcm eval`` with params.yaml's ``eval`` and ``eval_zero_shot`` sections: the student
and the untrained student (its LoRA off, the same LCM sampler) at 1, 2, 4 and 8 steps, beside the teacher's DDIM
and DPM++ with CFG and unguided DDIM (shipped baselines, same prompts and sampling seeds). The goals
(:mod:`mcm.eval.toy_goals`): the student at 4 steps at least the teacher's DDIM at 4 steps (mean over seeds, both
prompt sets, no seed more than 5 points below), at 2 steps at least DDIM at 4, at 1 step at least DDIM at 2, at
4 steps at least 0.9 of DDIM at 50 on every seed, colour accuracy at 4 and 8 steps within 3 points of DDIM at
50's, 8 steps no more than 3 points below 4, the content distance at 4 steps at most DDIM at 4's, V's watermark
on at most 5% of frames on every seed. Per-seed values, the mean and its 95% interval are printed. The untrained
student goes through the same goals: the ``untrained_fails_*`` lines pass when it *fails* the accuracy goals
against DDIM and the watermark goal (a goal that the method's absence passes measures nothing). ``--quick``
judges the ``--student`` run alone (default runs/LATEST) on 8 + 8 prompts; its goal names end in ``_quick``.
``--write`` saves the per-seed results and goals (docs/results/toy-default.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcm.eval.toy import sharpness, wilson_interval  # noqa: E402
from mcm.world.assets import MODEL_LIMIT_BYTES, TOTAL_LIMIT_BYTES, weight_files  # noqa: E402
from mcm.world.evalnets import load_eval_networks  # noqa: E402
from mcm.world.sets import AESTHETIC_THRESHOLD, WorldConfig, clips, items  # noqa: E402
from mcm.world.spec import ATTRIBUTES, DIRECTIONS  # noqa: E402

FULL = {"prompts": 64, "steps": 50}
QUICK = {"prompts": 8, "steps": 10}
MB = 2**20


def to_videos(arr: np.ndarray) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) -> float (N, F, 3, H, W) in [0, 1]."""
    return torch.from_numpy(arr).permute(0, 1, 4, 2, 3).float() / 255.0


def generate(gen, world: WorldConfig, name: str, n: int, batch: int) -> tuple[torch.Tensor, list]:
    its = items(world, name, n)
    out = []
    for i in range(0, n, batch):
        chunk = its[i:i + batch]
        out.append(gen([it.caption for it in chunk], [it.index for it in chunk]).float().clamp(0, 1))
    return torch.cat(out), its


def accuracy(nets, videos: torch.Tensor, its: list) -> dict:
    with torch.no_grad():
        logits = nets.attribute_logits(videos)
    ok = {a: (logits[a].argmax(-1) == torch.tensor([getattr(it.combo, a) for it in its])) for a in ATTRIBUTES}
    ok["all"] = ok["shape"] & ok["colour"] & ok["direction"]
    n = len(its)
    return {k: (int(v.sum()), n, wilson_interval(int(v.sum()), n)) for k, v in ok.items()}


def direction_confusion(nets, videos: torch.Tensor, its: list) -> np.ndarray:
    """(4, 4) counts: rows the prompted direction, columns the one the classifier reads."""
    with torch.no_grad():
        read = nets.attribute_logits(videos)["direction"].argmax(-1).tolist()
    table = np.zeros((len(DIRECTIONS), len(DIRECTIONS)), dtype=int)
    for it, r in zip(its, read):
        table[it.combo.direction, r] += 1
    return table


def watermark_rate(nets, frames: torch.Tensor) -> float:
    with torch.no_grad():
        return float((nets.watermark_prob(frames) > 0.5).float().mean())


def accuracy_against_training_time(nets, world: WorldConfig, assets: Path, n: int, steps: int,
                                   guidance, manifest: dict) -> None:
    """Seen and zero-shot accuracy (all three attributes) of each EMA snapshot and of the shipped teacher."""
    from diffusers import UNet3DConditionModel

    from mcm.sampler.api import build_video_generator
    from mcm.world.train_utils import RECORD_FILE

    gen = build_video_generator(teacher="toy", scheduler="ddim", steps=steps, guidance=guidance,
                                overrides=(f"teacher.path={assets / 'teacher'}",))
    shipped = {k: v.clone() for k, v in gen.teacher.network.state_dict().items()}
    record = json.loads((assets / "teacher" / "unet" / RECORD_FILE).read_text())
    rows = []
    for folder in sorted((assets / "work" / "teacher" / "snapshots").glob("step-*")):
        minutes = json.loads((folder / RECORD_FILE).read_text())["seconds_this_run"] / 60
        gen.teacher.network.load_state_dict(UNet3DConditionModel.from_pretrained(folder).state_dict())
        seen, seen_its = generate(gen, world, "seen", n, 16)
        zero, zero_its = generate(gen, world, "zero_shot", n, 16)
        rows.append((int(folder.name.split("-")[1]), minutes, accuracy(nets, seen, seen_its)["all"],
                     accuracy(nets, zero, zero_its)["all"]))
    gen.teacher.network.load_state_dict(shipped)
    seen, seen_its = generate(gen, world, "seen", n, 16)
    zero, zero_its = generate(gen, world, "zero_shot", n, 16)
    rows.append((record["config"]["steps"], record["seconds_this_run"] / 60, accuracy(nets, seen, seen_its)["all"],
                 accuracy(nets, zero, zero_its)["all"]))
    print(f"accuracy against training time ({n} prompts per set, {steps} DDIM steps; snapshots are EMA weights of "
          f"the run that made the shipped teacher, its last row; minutes of training on {record['threads']} "
          f"thread(s), shared with other work):")
    print(f"{'step':>6} {'minutes':>8} {'seen':>8} {'zero-shot':>10}")
    for step, minutes, seen_ok, zero_ok in rows:
        print(f"{step:>6} {minutes:8.1f} {100 * seen_ok[0] / seen_ok[1]:7.1f}% {100 * zero_ok[0] / zero_ok[1]:9.1f}%")


def distill_seed(runs: Path, seed: int, log) -> Path:
    """The embedded default (params.yaml's distill section) distilled with ``train.seed=seed`` into
    ``runs/seed-<seed>``; a finished run is reused, an interrupted one resumes (``--resume``)."""
    import subprocess

    run = runs / f"seed-{seed}"
    if (run / "final").is_dir():
        return run
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "mcm.cli.main", "distill", "--config", str(ROOT / "params.yaml"), "--section",
           "distill", "--output", str(run), "--set", f"train.seed={seed}"]
    if run.exists():
        cmd.append("--resume")
    with open(runs / f"seed-{seed}.log", "w") as out:
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    log(f"distilled seed {seed} in {(time.perf_counter() - t0) / 60:.1f} min -> {run}")
    return run


def evaluate_run(run: Path, prompts: int | None) -> dict[str, dict[str, dict]]:
    """``mcm eval`` of params.yaml's eval sections (seen and held-out prompts) with ``run`` as the student and the
    untrained student; teacher baselines come from the shipped cache. Returns {set: {key: metrics}}."""
    from mcm.eval.config import load_eval_config
    from mcm.eval.runner import run_evaluation

    out = {}
    for name, section in (("seen", "eval"), ("zero_shot", "eval_zero_shot")):
        sets = [] if prompts is None else [f"prompts.limit={prompts}"]
        cfg = load_eval_config(str(ROOT / "params.yaml"), {"out_dir": str(run / "bench-eval" / name)}, sets=sets,
                               section=section)
        cfg.methods = [m.model_copy(update={"generator": {**m.generator, "checkpoint": str(run)}})
                       if "checkpoint" in m.generator else m for m in cfg.methods]
        doc = run_evaluation(cfg)
        out[name] = {r["key"]: r["metrics"] for r in doc["results"]}
    return out


def print_goal_table(goals_of: dict[str, list], seeds: list[int]) -> None:
    from mcm.eval.toy_goals import METHOD_GOALS

    print(f"\n{'goal':<26} {'sampler':<18}" + "".join(f"{'seed ' + str(s):>9}" for s in seeds)
          + f"{'mean / worst':>13}  {'95% interval':<17} target")
    for name in [g.name for g in next(iter(goals_of.values()))]:
        for sampler, goals in goals_of.items():
            g = next(x for x in goals if x.name == name)
            interval = f"[{g.interval[0]:.2f}, {g.interval[1]:.2f}]" if g.interval else ""
            must = " (must fail)" if sampler != "student" and name in METHOD_GOALS else ""
            print(f"{name:<26} {sampler:<18}" + "".join(f"{g.per_seed[s]:9.2f}" for s in seeds)
                  + f"{g.measured:13.2f}  {interval:<17} {'>=' if g.at_least else '<='} {g.target:g}{must}")


def students_against_teacher(args, log=print) -> tuple[list[tuple], dict]:
    """The embedded default distilled on every seed of ``args.seeds`` (or the ``--student`` run with --quick),
    evaluated with its baselines, judged by :mod:`mcm.eval.toy_goals`; the untrained student through the same
    goals (it must fail the accuracy goals against DDIM and the watermark goal)."""
    from mcm.eval.comparisons import DDIM, STUDENT, UNTRAINED
    from mcm.eval.toy_goals import METHOD_GOALS, toy_goals
    from mcm.runs.folder import resolve_run

    t0 = time.perf_counter()
    if args.quick:
        runs = {0: resolve_run(args.student)}
    else:
        root = Path(args.runs)
        root.mkdir(parents=True, exist_ok=True)
        runs = {seed: distill_seed(root, seed, log) for seed in args.seeds}
    results = {seed: evaluate_run(run, args.prompts or (QUICK["prompts"] if args.quick else None))
               for seed, run in runs.items()}
    seeds = sorted(results)
    print(f"\nprompt accuracy % (seen / held-out), {len(seeds)} training seed(s) of the embedded default:")
    keys = ([f"{STUDENT}@{n}" for n in (1, 2, 4, 8)] + [f"{UNTRAINED}@{n}" for n in (1, 2, 4, 8)]
            + [f"{DDIM}@{n}" for n in (1, 2, 4, 8, 50)] + [f"DDIM (g=1)@{n}" for n in (1, 2, 4, 8)])
    print(f"{'sampler':<24}" + "".join(f"{'seed ' + str(s):>14}" for s in seeds))
    for key in keys:
        cells = []
        for s in seeds:
            a, b = (results[s][name].get(key, {}).get("prompt_acc") for name in ("seen", "zero_shot"))
            cells.append(f"{'-' if a is None else f'{a:.1f}'} / {'-' if b is None else f'{b:.1f}'}")
        print(f"{key:<24}" + "".join(f"{c:>14}" for c in cells))
    goals = {"student": toy_goals(results, STUDENT), "untrained student": toy_goals(results, UNTRAINED)}
    print_goal_table(goals, seeds)
    minutes = (time.perf_counter() - t0) / 60
    print(f"\nstudents: {len(seeds)} seed(s) distilled (or reused) and evaluated in {minutes:.1f} min")
    suffix = "_quick" if args.quick else ""
    rows = [(f"student_{g.name}{suffix}", g.measured, g.target, g.passed) for g in goals["student"]]
    for g in goals["untrained student"]:
        if g.name in METHOD_GOALS:  # the method's absence must not pass these
            rows.append((f"untrained_fails_{g.name}{suffix}", g.measured, g.target, not g.passed))
    record = {"seeds": seeds, "minutes": minutes, "prompts": args.prompts, "quick": args.quick,
              "runs": {s: str(r) for s, r in runs.items()}, "results": results,
              "goals": {k: [{"name": g.name, "measured": g.measured, "target": g.target, "passed": g.passed,
                             "per_seed": g.per_seed, "interval": g.interval} for g in v] for k, v in goals.items()}}
    return rows, record


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 + 8 prompts at 10 steps (under a minute)")
    ap.add_argument("--assets", default=str(ROOT / "assets/toy"), help="assets folder (make toy-assets)")
    ap.add_argument("--prompts", type=int, help="prompts per set (default 64; 8 with --quick)")
    ap.add_argument("--steps", type=int, help="DDIM steps (default 50; 10 with --quick)")
    ap.add_argument("--guidance", type=float, help="CFG scale g (default: the toy preset's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--snapshot-prompts", type=int, default=32, help="prompts per set for --snapshots")
    ap.add_argument("--snapshot-steps", type=int, default=25, help="DDIM steps for --snapshots")
    ap.add_argument("--student", default=str(ROOT / "runs/LATEST"),
                    help="--quick: the student run judged (run folder or runs/LATEST); 'none' skips the student goals")
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=list(range(5)),
                    help="training seeds of the embedded default (full mode; default 0,1,2,3,4)")
    ap.add_argument("--runs", default=str(ROOT / "runs/bench-toy"), help="where the seeds' runs go (reused)")
    ap.add_argument("--write", nargs="?", const=str(ROOT / "docs/results/toy-default.json"),
                    help="write the per-seed results and goals as JSON (default docs/results/toy-default.json)")
    ap.add_argument("--snapshots", action="store_true",
                    help="also print the seen-prompt accuracy of every training snapshot of the teacher "
                    "(assets/toy/work/teacher/snapshots, kept by make toy-assets): accuracy against training time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mode = QUICK if args.quick else FULL
    n, steps = args.prompts or mode["prompts"], args.steps or mode["steps"]
    assets = Path(args.assets)
    from mcm.sampler.api import build_video_generator

    world = WorldConfig()
    nets = load_eval_networks(assets / "eval")
    gen = build_video_generator(teacher="toy", scheduler="ddim", steps=steps, guidance=args.guidance,
                                overrides=(f"teacher.path={assets / 'teacher'}",))
    t0 = time.perf_counter()
    seen, seen_its = generate(gen, world, "seen", n, 16)
    zero, zero_its = generate(gen, world, "zero_shot", n, 16)
    gen_s = time.perf_counter() - t0
    acc = {"seen": accuracy(nets, seen, seen_its), "zero_shot": accuracy(nets, zero, zero_its)}

    v_clips = to_videos(clips(world, "videos", 256)[0])
    m_its = [it for it in items(world, "images", 512) if it.aesthetic >= AESTHETIC_THRESHOLD][:256]
    m_frames = torch.from_numpy(np.stack([(it.pixels(world) * 255).round().astype(np.uint8) for it in m_its]))
    m_frames = m_frames.permute(0, 3, 1, 2).float() / 255.0
    teacher_frames = torch.cat([seen, zero]).flatten(0, 1)
    wm = {"teacher": watermark_rate(nets, teacher_frames), "V": watermark_rate(nets, v_clips.flatten(0, 1)),
          "M": watermark_rate(nets, m_frames)}
    sharp = {"teacher": sharpness(teacher_frames), "V": sharpness(v_clips.flatten(0, 1)), "M": sharpness(m_frames)}

    manifest_path = assets / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    sizes = {name: sum(weight_files(assets / folder).values()) for name, folder in (
        ("text_encoder", "teacher/text_encoder"), ("vae", "teacher/vae"), ("unet", "teacher/unet"),
        ("backbone", "backbone"), ("eval", "eval"))}
    total = sum(sizes.values())

    print(f"small world teacher: {steps} guided DDIM steps (CFG g = {gen.guidance:g}), {n} prompts per set, "
          f"generation {gen_s:.1f} s{'  [--quick: fewer prompts and steps than the goals ask]' if args.quick else ''}")
    print(f"{'prompt set':<12} {'shape':>8} {'colour':>8} {'direction':>10} {'all three':>10}  95% interval")
    for name, a in acc.items():
        cells = [f"{100 * a[k][0] / a[k][1]:7.1f}%" for k in ("shape", "colour", "direction")]
        s, m, (lo, hi) = a["all"]
        print(f"{name:<12} {cells[0]:>8} {cells[1]:>8} {cells[2]:>10} {100 * s / m:9.1f}%  [{lo:.1f}, {hi:.1f}]")
    confusion = direction_confusion(nets, seen, seen_its) + direction_confusion(nets, zero, zero_its)
    print("direction (both sets; rows: prompted, columns: drawn)   " + " ".join(f"{d:>6}" for d in DIRECTIONS))
    for d, row in zip(DIRECTIONS, confusion):
        print(f"  {d:<54}" + " ".join(f"{v:>6}" for v in row))
    opposite = {0: 1, 1: 0, 2: 3, 3: 2}
    flips = sum(confusion[i, opposite[i]] for i in range(len(DIRECTIONS)))
    print(f"sign errors (the opposite direction drawn): {flips} of {confusion.sum()} (a teacher blind to frame order "
          "takes the axis from the caption and the sign at random: about half)")
    print(f"watermark rate: teacher {100 * wm['teacher']:.1f}%  V {100 * wm['V']:.1f}%  M {100 * wm['M']:.1f}%")
    print(f"sharpness: teacher {sharp['teacher']:.4f}  V {sharp['V']:.4f}  M {sharp['M']:.4f}  "
          f"(teacher / V = {sharp['teacher'] / sharp['V']:.3f})")
    print("assets (MB): " + "  ".join(f"{k} {v / MB:.2f}" for k, v in sizes.items()) + f"  total {total / MB:.2f}")
    if manifest.get("seconds"):
        secs = manifest["seconds"]
        print("training time (min, threads=%s): " % manifest.get("threads") + "  ".join(
            f"{k} {v / 60:.1f}" for k, v in secs.items()) + f"  total {sum(secs.values()) / 60:.1f}")

    if args.snapshots:
        accuracy_against_training_time(nets, world, assets, args.snapshot_prompts, args.snapshot_steps,
                                       args.guidance, manifest)

    student_goals, record = [], {}
    if args.student != "none":
        student_goals, record = students_against_teacher(args)
    if args.write and record:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(f"wrote {args.write}")

    seen_acc = acc["seen"]["all"][0] / acc["seen"]["all"][1]
    zero_acc = acc["zero_shot"]["all"][0] / acc["zero_shot"]["all"][1]
    sharp_dev = abs(sharp["teacher"] / sharp["V"] - 1)
    goals = [
        ("teacher_seen_prompt_acc", seen_acc, 0.90, seen_acc >= 0.90),
        ("teacher_zero_shot_prompt_acc", zero_acc, 0.70, zero_acc >= 0.70),
        ("teacher_watermark_rate", wm["teacher"], 0.80, wm["teacher"] >= 0.80),
        ("m_watermark_rate_max", wm["M"], 0.05, wm["M"] <= 0.05),
        ("teacher_sharpness_dev_from_v_max", sharp_dev, 0.10, sharp_dev <= 0.10),
        ("teacher_sharpness_over_m_below", sharp["teacher"] / sharp["M"], 1.0, sharp["teacher"] < sharp["M"]),
        ("asset_largest_model_mb_max", max(sizes.values()) / MB, MODEL_LIMIT_BYTES / MB,
         max(sizes.values()) <= MODEL_LIMIT_BYTES),
        ("asset_total_mb_max", total / MB, TOTAL_LIMIT_BYTES / MB, total <= TOTAL_LIMIT_BYTES),
    ]
    for name, measured, target, ok in goals + student_goals:
        print(f"GOAL {name} {measured:.3f} {target:g} {'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
