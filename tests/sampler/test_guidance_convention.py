"""Guidance-scale conventions (issue 8): LCM form w (distillation) and standard CFG g (baselines), g = w + 1."""

import pytest
import torch

from mcm.distill.guidance import cfg_guidance, lcm_guidance
from mcm.sampler.api import build_video_generator


@pytest.mark.parametrize("w", [0.0, 5.0, 7.5, 15.0])
def test_lcm_form_w_equals_standard_cfg_with_w_plus_one(w):
    from mcm.distill.guidance import cfg_scale_to_lcm_w, lcm_w_to_cfg_scale

    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(2, 4, 3, 5, 5, generator=g), torch.randn(2, 4, 3, 5, 5, generator=g)
    lcm = lcm_guidance(cond, uncond, torch.full((2,), w))
    torch.testing.assert_close(lcm, cfg_guidance(cond, uncond, w + 1))
    torch.testing.assert_close(lcm, cfg_guidance(cond, uncond, lcm_w_to_cfg_scale(w)))
    assert cfg_scale_to_lcm_w(lcm_w_to_cfg_scale(w)) == w


def test_default_baseline_cfg_scale_is_the_mid_of_the_lcm_range_plus_one():
    gen = build_video_generator(teacher="tiny", scheduler="ddim", steps=2,
                                overrides=("teacher.guidance_min=5", "teacher.guidance_max=15"))
    mid = (5 + 15) / 2
    assert gen.guidance == mid + 1, f"default CFG scale {gen.guidance}, expected mid(w) + 1 = {mid + 1}"
    explicit = build_video_generator(teacher="tiny", scheduler="ddim", steps=2, guidance=7.5)
    assert explicit.guidance == 7.5  # a given --guidance is standard CFG g, passed through unchanged
