"""The small world's distillation goals (mcm.eval.toy_goals): a goal that the method's absence passes measures
nothing, so the untrained student (the teacher's network with the student's LCM sampler) must fail them."""

from __future__ import annotations

from pathlib import Path

import pytest

import torch

from mcm.config.load import load_config
from mcm.eval.toy_goals import mean_interval, toy_goals
from mcm.sampler.api import VideoGenerator
from mcm.teachers.registry import load_teacher
from mcm.world.evalnets import load_eval_networks
from mcm.world.sets import WorldConfig, items
from mcm.world.spec import ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets/toy"
PROMPTS = 32  # the first 32 seen prompts (a UNet pass over 32 videos is ~1 s on 2 cores)


def _metrics(acc, colour=90.0, wm=0.0, collapsed=0.0):
    return {"prompt_acc": acc, "prompt_acc_colour": colour, "watermark_rate": wm, "collapsed_rate": collapsed}


def _seed(student: dict[int, float], wm: float = 0.0) -> dict:
    teacher = {1: 14.0, 2: 64.0, 4: 90.0, 8: 92.0, 50: 95.0}
    one = {f"DDIM@{n}": _metrics(a) for n, a in teacher.items()}
    one.update({f"MCM (ours)@{n}": _metrics(a, wm=wm) for n, a in student.items()})
    return {"seen": one, "zero_shot": one}


def test_goals_pass_a_student_ahead_of_the_teacher_and_fail_the_issues_numbers():
    good = {s: _seed({1: 70.0, 2: 91.0, 4: 93.0, 8: 93.0}) for s in range(3)}
    assert all(g.passed for g in toy_goals(good)), [g for g in toy_goals(good) if not g.passed]
    # issue 27's student: below DDIM at every step count, worse at 8 than at 4
    today = {0: _seed({1: 10.9, 2: 60.9, 4: 78.1, 8: 57.8}, wm=0.0)}
    failed = {g.name for g in toy_goals(today) if not g.passed}
    assert {"acc4_vs_ddim4_seen", "acc2_vs_ddim4", "acc1_vs_ddim2", "acc8_minus_acc4"} <= failed
    # one seed far below fails the worst-seed goal even when the mean passes
    mixed = {0: _seed({1: 70.0, 2: 95.0, 4: 99.0, 8: 99.0}), 1: _seed({1: 70.0, 2: 95.0, 4: 84.0, 8: 84.0})}
    goals = {g.name: g for g in toy_goals(mixed)}
    assert goals["acc4_vs_ddim4_seen"].passed and not goals["acc4_vs_ddim4_worst_seed"].passed
    mean, (lo, hi) = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2.0 - 4.303 / 3 ** 0.5) and hi > 3.0


def test_the_untrained_student_fails_the_accuracy_and_watermark_goals():
    """Today's single goal (0.8 of DDIM@50) passed without any distillation (issue 27); these must not. The
    untrained student (the teacher's network, the student's LCM sampler) and the teacher's DDIM with CFG, 4 steps
    each, on the first 32 seen prompts, scored by the world's frozen networks as mcm eval scores them."""
    nets = load_eval_networks(ASSETS / "eval")
    its = items(WorldConfig(), "seen", PROMPTS)
    prompts, seeds = [it.caption for it in its], list(range(PROMPTS))
    truth = {a: torch.tensor([getattr(it.combo, a) for it in its]) for a in ATTRIBUTES}
    cfg = load_config("toy_mcm", [f"teacher.path={ASSETS / 'teacher'}"])
    teacher = load_teacher(cfg.teacher)

    def score(gen) -> dict:
        videos = gen(prompts, seeds).float().clamp(0, 1)
        logits = nets.attribute_logits(videos)
        ok = torch.stack([logits[a].argmax(-1) == truth[a] for a in ATTRIBUTES]).all(0)
        wm = (nets.watermark_prob(videos.flatten(0, 1)) > 0.5).float().mean()
        return _metrics(100 * ok.float().mean().item(), wm=100 * wm.item())

    by_key = {"MCM (ours)@4": score(VideoGenerator(teacher, cfg, "lcm", 4, 0.0, cfg.data.num_frames)),
              "DDIM@4": score(VideoGenerator(teacher, cfg, "ddim", 4, 3.0, cfg.data.num_frames))}
    goals = {g.name: g for g in toy_goals({0: {"seen": by_key, "zero_shot": by_key}})}
    for name in ("acc4_vs_ddim4_seen", "watermark_max"):
        assert not goals[name].passed, (name, goals[name].measured, by_key)
