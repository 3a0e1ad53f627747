"""Each row of the paper's ablation tables is one preset (issue 3); the LCM presets stay LCM."""

import pytest

from mcm.config.load import load_config

# preset -> (motion representation, discriminator on, lambda_real)
ROWS = {
    # Table 4: LCM; + adversarial; + MCD; + mixed trajectories
    "lcm": ("raw", False, 1.0),
    "lcm_adv": ("raw", True, 1.0),
    "mcm_learnable": ("learnable", True, 1.0),
    "mcm_tiny": ("learnable", True, 0.5),
    # Table 5: motion representations
    "mcm_raw": ("raw", True, 1.0),
    "mcm_diff": ("diff", True, 1.0),
    "mcm_corr": ("corr", True, 1.0),
    "mcm_lowfreq": ("lowfreq", True, 1.0),
    "mcm_highfreq": ("highfreq", True, 1.0),
    # Table 6: lambda_real
    "mcm_mixed_1": ("learnable", True, 1.0),
    "mcm_mixed_05": ("learnable", True, 0.5),
    "mcm_mixed_0": ("learnable", True, 0.0),
    # the baselines of the core issue stay plain LCM; the real-scale presets are full MCM
    "tiny": ("raw", False, 1.0),
    "small": ("raw", False, 1.0),
    "gmm": ("raw", False, 1.0),
    "modelscope": ("learnable", True, 0.5),
    "animatediff": ("learnable", True, 0.5),
}


@pytest.mark.parametrize("preset", sorted(ROWS))
def test_ablation_rows(preset):
    cfg = load_config(preset)
    assert (cfg.motion.name, cfg.discriminator.enabled, cfg.distill.lambda_real) == ROWS[preset]


def test_mcm_defaults_follow_the_paper():
    cfg = load_config("modelscope")
    d = cfg.discriminator
    assert d.lr == 5e-5 and d.sparse_frames == 2 and d.feature_blocks == (2, 5, 8, 11) and d.text_embed_dim == 1024
    assert cfg.motion.ema_decay == 0.95 and cfg.distill.lambda_adv == 1.0 and cfg.images.source == "none"


def test_discriminator_needs_a_vae():
    with pytest.raises(ValueError, match="discriminator.enabled"):
        load_config("gmm", ["discriminator.enabled=true"])
