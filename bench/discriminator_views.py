"""Does the discriminator find V's watermark within 120 updates? (issue 10)

    python bench/discriminator_views.py            # 4 discriminator settings, 120 updates each (about 3 minutes)
    python bench/discriminator_views.py --quick    # under a minute: 2 settings, 96 updates

The discriminator of ``make pipeline-run`` (preset ``toy_mcm``: the shipped self-supervised backbone, text-
conditioned heads; augmentation, virtual batch and views set per row) is trained *alone* on the small world's
frames with its own loss (``discriminator_loss``, Eq. 5 hinge + penalty): real images are clean renders (what M
holds), fakes are the same world's frames with V's defects (blur, lower contrast, sensor noise and the fixed-place
watermark: what the teacher draws). Batch 16 per update (the default's 8 videos x l = 2 frames), 120 updates (the
student's budget when the paper's augmentation was the default; the default student now gets 300). Then, without
augmentation, on the 64 seen prompts' frames (item 3 of each clip), the mean logit D gives to

    clean            M-like frames
    clean + wm       the same with only the watermark added
    degraded         V-like frames (all defects)

and the **watermark gap** = D(clean) - D(clean + wm): how strongly D has learnt that the watermark marks a fake,
the signal the student needs to drop it. This isolates D's side of the watermark goal: whether the student then
drops the watermark is measured by ``bench/toy.py`` (docs/results/watermark_sweep.md).

Rows: the paper's augmentation (virtual batch 2; DiffAugment colour, translation, cutout; 1 view: the embedded
default until stop 25), and colour-only augmentation at virtual batch 8 with 1 and 4 augmented views per image
(``discriminator.augment_views``; 4 views is the embedded default now); the full run adds no augmentation at all
(what D could learn unhindered).

Goal: with 4 views the watermark gap is at least 5x the 1-view gap at the same updates and augmentation, at the
budget of 120 updates (views average out the augmentation's noise, so a few updates find what every fake shares;
given many more updates one view catches up, so ``--updates`` other than the default prints the ratio only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcm.config.load import load_config  # noqa: E402
from mcm.discriminator.loss import discriminator_loss  # noqa: E402
from mcm.teachers.registry import load_teacher  # noqa: E402
from mcm.trainer.adversarial import DiscriminatorTraining  # noqa: E402
from mcm.world import render  # noqa: E402
from mcm.world.sets import WorldConfig, items  # noqa: E402

VIEW_GAIN_TARGET = 5.0
BATCH = 16
FULL_UPDATES, QUICK_UPDATES = 120, 96
TRAIN_ITEMS = 1000  # frames of the world's `networks` set (seen combinations; never the evaluation prompts)
PROBE_FRAME = 3
# Every row names its augmentation, virtual batch and views, so it does not depend on toy_mcm's choice of them
# (the embedded default is the "colour, vb 8, 4 views" row; the first row is the paper's augmentation).
COLOUR_VB8 = ["discriminator.augment_policy=[color]", "discriminator.virtual_batch_size=8"]
SETTINGS = {
    "paper (vb 2, colour+translation+cutout, 1 view)": [
        "discriminator.augment_policy=[color,translation,cutout]", "discriminator.virtual_batch_size=2",
        "discriminator.augment_views=1"],
    "colour, vb 8, 1 view": COLOUR_VB8 + ["discriminator.augment_views=1"],
    "colour, vb 8, 4 views": COLOUR_VB8 + ["discriminator.augment_views=4"],
    "no augmentation, vb 8, 1 view": ["discriminator.augment_policy=[]", "discriminator.virtual_batch_size=8",
                                      "discriminator.augment_views=1"],
}
QUICK_SETTINGS = ("colour, vb 8, 1 view", "colour, vb 8, 4 views")
LOOKS = ("clean", "clean + wm", "degraded")  # WorldItem.render looks, plus the watermark alone


def frames(world: WorldConfig, its, look: str, frame: int) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1]: frame ``frame`` of each item's clip as ``look`` (the world's clean or degraded
    rendering, or the clean one with only the watermark added)."""
    out = [render.add_watermark(it.clean(world)) if look == "clean + wm" else it.render(world, look) for it in its]
    return torch.from_numpy(np.stack([clip[frame] for clip in out])).permute(0, 3, 1, 2).float() * 2 - 1


def train_and_probe(sets: list[str], updates: int, seed: int, teacher, world: WorldConfig) -> tuple[dict, float]:
    cfg = load_config("toy_mcm", sets).discriminator
    adv = DiscriminatorTraining(cfg, teacher, torch.device("cpu"), seed, fp16=False)
    disc, text = adv.disc, adv.adversary.text
    opt = disc.make_optimizer()
    pool = items(world, "networks", TRAIN_ITEMS)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for step in range(updates):
        real_its = [pool[i] for i in rng.integers(len(pool), size=BATCH)]
        fake_its = [pool[i] for i in rng.integers(len(pool), size=BATCH)]
        frame = int(rng.integers(world.num_frames))
        real = frames(world, real_its, "clean", frame)
        fake = frames(world, fake_its, "degraded", (frame + 1) % world.num_frames)
        video_seeds = torch.as_tensor(rng.integers(0, 2**40, size=BATCH // cfg.sparse_frames))
        loss, _ = discriminator_loss(disc, real, text([i.caption for i in real_its]), fake,
                                     text([i.caption for i in fake_its]), video_seeds, adv.penalty_weight.weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    probe = items(world, "seen", world.prompts_per_set)
    probe_text = text([it.caption for it in probe])
    disc.eval()
    with torch.no_grad():
        scores = {look: float(disc.score(frames(world, probe, look, PROBE_FRAME), probe_text).mean()) for look in LOOKS}
    return scores, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"2 settings, {QUICK_UPDATES} updates (under a minute)")
    ap.add_argument("--updates", type=int, help=f"discriminator updates (default {FULL_UPDATES})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    updates = args.updates or (QUICK_UPDATES if args.quick else FULL_UPDATES)
    world = WorldConfig()
    teacher = load_teacher(load_config("toy_mcm").teacher)  # the text condition of D's heads
    names = QUICK_SETTINGS if args.quick else tuple(SETTINGS)
    print(f"discriminator alone, {updates} updates of {BATCH} real + {BATCH} fake, seed {args.seed}"
          f"{' (--quick)' if args.quick else ''}")
    print(f"| setting | {' | '.join(f'D({look})' for look in LOOKS)} | watermark gap | seconds |")
    print("|---|" + "---|" * (len(LOOKS) + 2))
    gaps = {}
    for name in names:
        scores, seconds = train_and_probe(SETTINGS[name], updates, args.seed, teacher, world)
        gaps[name] = scores["clean"] - scores["clean + wm"]
        print(f"| {name} | {' | '.join(f'{scores[look]:+.3f}' for look in LOOKS)} | {gaps[name]:+.3f} | {seconds:.0f} |",
              flush=True)
    one, four = gaps["colour, vb 8, 1 view"], gaps["colour, vb 8, 4 views"]
    gain = four / max(abs(one), 1e-3)
    if updates not in (FULL_UPDATES, QUICK_UPDATES):  # with more updates one view catches up: no goal there
        print(f"4 views / 1 view: {gain:.1f} (the goal is judged at the budget, {FULL_UPDATES} updates)")
        return
    print(f"GOAL discriminator_watermark_gap_4views_over_1view {gain:.1f} {VIEW_GAIN_TARGET:g} "
          f"{'PASS' if gain >= VIEW_GAIN_TARGET else 'MISS'}")


if __name__ == "__main__":
    main()
