"""The small world's trainers are deterministic (same seed and thread count, same weights) and resume
exactly; the teacher folder they make loads through the real ModelScope loader."""

import torch
import pytest

from mcm.world.sets import WorldConfig
from mcm.world.teacher import TeacherTrainConfig, build_unet, train_teacher
from mcm.world.text_encoder import TextTrainConfig, build_text_encoder, train_text_encoder
from mcm.world.tokenizer import build_world_tokenizer
from mcm.world.vae import VAETrainConfig, train_vae

WORLD = WorldConfig()
TEXT = TextTrainConfig(steps=3, batch_size=16, hidden_size=16, intermediate_size=32, num_heads=2)
VAE = VAETrainConfig(steps=2, batch_size=2, pool_clips=8, stats_frames=8, block_out_channels=(8, 16, 16),
                     norm_num_groups=4)
TEACHER = TeacherTrainConfig(warmup_steps=0, steps=4, batch_size=2, num_clips=8, block_out_channels=(8, 16),
                             norm_num_groups=4, attention_heads=2, checkpoint_every=2, log_every=2)


def weights(folder):
    from safetensors.torch import load_file

    (path,) = list(folder.glob("*.safetensors"))
    return load_file(path)


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_text_encoder_and_vae_train_deterministically(tmp_path):
    tok = build_world_tokenizer()
    for run in ("a", "b"):
        train_text_encoder(tmp_path / run / "text", tok, TEXT, log=lambda s: None)
        train_vae(WORLD, tmp_path / run / "vae", VAE, log=lambda s: None)
    assert same(weights(tmp_path / "a/text"), weights(tmp_path / "b/text"))
    assert same(weights(tmp_path / "a/vae"), weights(tmp_path / "b/vae"))
    trained = weights(tmp_path / "a/text")
    torch.manual_seed(TEXT.seed)
    init = build_text_encoder(TEXT, len(tok.get_vocab())).state_dict()
    assert not same({k: trained[k] for k in init if k in trained}, {k: init[k] for k in init if k in trained})


def _teacher(folder, work, killed_at=None, **update):
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel

    tok = build_world_tokenizer()
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), norm_num_groups=4, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    text = build_text_encoder(TEXT, len(tok.get_vocab()))
    assert isinstance(text, CLIPTextModel)
    cfg = TEACHER.model_copy(update=update if killed_at is None else {**update, "steps": killed_at})
    train_teacher(WORLD, folder, work, vae, text, tok, cfg, log=lambda s: None)


def test_teacher_trains_deterministically_and_resumes_exactly(tmp_path):
    """A run killed after its step-2 checkpoint and rerun ends with exactly the weights of an uninterrupted
    run: so training is deterministic and resumes exactly (ModelScope's temporal dropout is seeded per step)."""
    _teacher(tmp_path / "a", tmp_path / "wa")
    from mcm.world import teacher as teacher_module

    saved = {}
    real = teacher_module._save_checkpoint

    def save_then_die(path, step, *args):
        real(path, step, *args)
        saved["step"] = step
        raise KeyboardInterrupt

    teacher_module._save_checkpoint = save_then_die
    try:
        _teacher(tmp_path / "c", tmp_path / "wc")
    except KeyboardInterrupt:
        pass
    finally:
        teacher_module._save_checkpoint = real
    assert saved == {"step": 2} and not (tmp_path / "c").exists()
    _teacher(tmp_path / "c", tmp_path / "wc")
    assert same(weights(tmp_path / "a"), weights(tmp_path / "c"))
    unet = build_unet(TEACHER, 4, 16, 8)
    assert sum(p.numel() for p in unet.parameters()) == sum(v.numel() for v in weights(tmp_path / "a").values())


def test_teacher_temporal_kernels_stay_causal(tmp_path):
    """causal_temporal: every temporal kernel's next-frame tap is zero in the trained weights (the frame clock),
    while the current- and previous-frame taps trained."""
    _teacher(tmp_path / "a", tmp_path / "wa", causal_temporal=True)
    temporal = {k: v for k, v in weights(tmp_path / "a").items() if "temp_convs" in k and k.endswith("weight")
                and v.dim() == 5}
    assert len(temporal) >= 8
    for name, w in temporal.items():
        assert w[:, :, 2].abs().max() == 0, name
    assert any(w[:, :, 0].abs().max() > 0 for w in temporal.values())
    _teacher(tmp_path / "b", tmp_path / "wb")  # the default (the shipped recipe): two-sided kernels
    two_sided = {k: v for k, v in weights(tmp_path / "b").items() if k in temporal}
    assert any(w[:, :, 2].abs().max() > 0 for w in two_sided.values())


def test_loss_weighting_lifts_high_noise_only():
    """snr_lift = 1 weighs the clean-video error min(SNR + 1, gamma): ~1 where SNR -> 0 (Min-SNR gives ~SNR
    there), the same cap gamma at low noise."""
    from mcm.teachers.base import alphas_cumprod_from_betas
    from mcm.world.teacher import loss_weights

    abar = alphas_cumprod_from_betas(1000, 0.00085, 0.012, "scaled_linear")
    snr = abar / (1 - abar)
    plus = loss_weights(abar, TEACHER.model_copy(update={"snr_lift": 1.0})) * snr
    plain = loss_weights(abar, TEACHER.model_copy(update={"snr_lift": 0.0})) * snr
    assert plus[-1] == pytest.approx(1 + snr[-1].item(), rel=1e-5) and plain[-1] < 0.005
    low = snr > TEACHER.min_snr_gamma
    assert torch.equal(plus[low], plain[low])
    assert torch.allclose(plus[low], torch.full_like(plus[low], TEACHER.min_snr_gamma))


def test_loss_weighting_lift_stops_at_snr_lift_until():
    """snr_lift_until = N: the lifted weights for steps before N, plain Min-SNR from step N on."""
    from mcm.teachers.base import alphas_cumprod_from_betas
    from mcm.world.teacher import loss_weights

    abar = alphas_cumprod_from_betas(1000, 0.00085, 0.012, "scaled_linear")
    lifted = TEACHER.model_copy(update={"snr_lift": 1.0})
    scheduled = TEACHER.model_copy(update={"snr_lift": 1.0, "snr_lift_until": 100})
    plain = loss_weights(abar, TEACHER.model_copy(update={"snr_lift": 0.0}))
    assert torch.equal(loss_weights(abar, scheduled, step=99), loss_weights(abar, lifted, step=99))
    assert torch.equal(loss_weights(abar, scheduled, step=100), plain)
    assert loss_weights(abar, scheduled, step=99)[-1] > 100 * plain[-1]


def test_teacher_starts_from_init_from_weights(tmp_path):
    """init_from: a stage trained on top of a base teacher starts from the base's weights, not a fresh draw (with a
    vanishing learning rate it ends where the base is; a fresh initialisation is far from it)."""
    _teacher(tmp_path / "base", tmp_path / "wbase")
    base = weights(tmp_path / "base")
    _teacher(tmp_path / "stage", tmp_path / "wstage", init_from=str(tmp_path / "base"), lr=1e-12, seed=1)
    stage = weights(tmp_path / "stage")
    assert stage.keys() == base.keys()
    assert max((stage[k] - base[k]).abs().max().item() for k in base) < 1e-6
    torch.manual_seed(TEACHER.seed)
    fresh = build_unet(TEACHER, 4, 16, 8).state_dict()
    assert max((fresh[k] - base[k]).abs().max().item() for k in base if k in fresh) > 1e-3
