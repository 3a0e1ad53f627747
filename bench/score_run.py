"""Score one distillation run quickly: the student at 1, 2, 4 and 8 steps on the world's seen prompts.

    python bench/score_run.py RUN [--prompts 64] [--threads 2]

Prompt accuracy (shape, colour and direction all right, the world's frozen classifiers), colour accuracy and the
share of frames with V's watermark, with the scoring of ``bench/toy.py`` (its ``generate``, ``accuracy`` and
``watermark_rate``; sampling seeds 0..n-1). The runs of docs/results/distillation_diagnosis.md were scored with it.
Without a ``mcm eval``: no baselines, no report, a few minutes on 2 cores. Choices are made on seen prompts only.
Goal (a diagnostic): V's watermark on at most 5% of the 4-step student's frames.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from toy import accuracy, generate, watermark_rate  # noqa: E402

from mcm.sampler.api import build_video_generator  # noqa: E402
from mcm.world.evalnets import load_eval_networks  # noqa: E402
from mcm.world.sets import WorldConfig  # noqa: E402

WATERMARK_MAX = 0.05


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder (or runs/LATEST)")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nets = load_eval_networks(ROOT / "assets/toy/eval")
    world = WorldConfig()
    print(f"{args.run}: {args.prompts} seen prompts")
    print(f"{'steps':>5} {'prompt acc':>11} {'colour acc':>11} {'watermark':>10}")
    wm4 = float("nan")
    for steps in (1, 2, 4, 8):
        gen = build_video_generator(checkpoint=args.run, steps=steps)
        videos, its = generate(gen, world, "seen", args.prompts, 16)
        a = accuracy(nets, videos, its)
        wm = watermark_rate(nets, videos.flatten(0, 1))
        wm4 = wm if steps == 4 else wm4
        print(f"{steps:>5} {a['all'][0]:>5}/{a['all'][1]:<5} {a['colour'][0]:>5}/{a['colour'][1]:<5} "
              f"{100 * wm:9.1f}%")
    print(f"GOAL watermark_4steps_max {wm4:.3f} {WATERMARK_MAX:g} {'PASS' if wm4 <= WATERMARK_MAX else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
