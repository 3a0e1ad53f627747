"""The shipped small-world assets (assets/toy, made by `make toy-assets`): they load through the real
loaders, the evaluation networks are accurate on held-out clips, the teacher draws what it is asked."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mcm.world.sets import WorldConfig, clips, items

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "toy"
WORLD = WorldConfig()
pytestmark = pytest.mark.skipif(not (ASSETS / "MANIFEST.json").is_file(), reason="assets/toy not built")


def videos_of(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).permute(0, 1, 4, 2, 3).float() / 255.0


@pytest.fixture(scope="module")
def nets():
    from mcm.world.evalnets import load_eval_networks

    return load_eval_networks(ASSETS / "eval")


def test_assets_are_within_the_size_limits_and_match_the_manifest():
    from mcm.world.assets import MODEL_LIMIT_BYTES, TOTAL_LIMIT_BYTES, sha256

    manifest = json.loads((ASSETS / "MANIFEST.json").read_text())
    assert set(manifest["model_bytes"]) == {"text_encoder", "vae", "unet", "backbone", "eval"}
    assert max(manifest["model_bytes"].values()) <= MODEL_LIMIT_BYTES
    assert manifest["total_bytes"] <= TOTAL_LIMIT_BYTES
    for rel, info in manifest["files"].items():
        assert (ASSETS / rel).stat().st_size == info["bytes"] and sha256(ASSETS / rel) == info["sha256"], rel


def test_teacher_loads_through_the_modelscope_loader():
    from mcm.config.load import load_config
    from mcm.teachers.registry import load_teacher

    cfg = load_config("toy", (f"teacher.path={ASSETS / 'teacher'}",))
    teacher = load_teacher(cfg.teacher)
    assert teacher.name == "modelscope" and teacher.text_max_length == 16 and teacher.vae_scale_factor == 4
    states = teacher.encode_text(["a red circle moving left", "a ball, crimson, sliding to the left"])
    assert states.shape == (2, 16, teacher.text_encoder.config.hidden_size)


def test_backbone_loads_through_the_discriminator_interface():
    from mcm.discriminator.backbone import DinoFeatureExtractor, load_dinov2

    model = load_dinov2(str(ASSETS / "backbone"))
    extractor = DinoFeatureExtractor(model, feature_blocks=(1, model.config.num_hidden_layers - 1))
    feats = extractor(torch.zeros(2, 3, 32, 32))
    assert len(feats) == 2 and feats[0].shape[0] == 2


@pytest.mark.parametrize("look", ["degraded", "clean"])
def test_attribute_classifiers_are_accurate_on_held_out_clips(nets, look):
    """>= 97% on fresh clips (seen and held-out combinations), V's look and M's (clean) look."""
    for name in ("seen", "zero_shot"):
        arr, its = clips(WORLD, name, 64, start=1000, look=look)
        with torch.no_grad():
            logits = nets.attribute_logits(videos_of(arr))
        for attr in ("shape", "colour", "direction"):
            truth = torch.tensor([getattr(it.combo, attr) for it in its])
            assert (logits[attr].argmax(-1) == truth).float().mean() >= 0.97, (name, look, attr)


def test_generator_captions_agree_with_the_classifiers(nets):
    arr, its = clips(WORLD, "videos", 64)
    with torch.no_grad():
        logits = nets.attribute_logits(videos_of(arr))
    for attr in ("shape", "colour", "direction"):
        truth = torch.tensor([getattr(it.combo, attr) for it in its])
        assert (logits[attr].argmax(-1) == truth).float().mean() >= 0.97, attr


#: DDIM steps of the test's teacher samples (the benchmark uses 50; 10 keeps the test near half a minute).
TEST_DDIM_STEPS = 10
#: The shipped teacher's all-three accuracy on these 32 prompts at TEST_DDIM_STEPS, measured when it was
#: trained (bench/toy.py gives the 64-prompt, 50-step numbers), minus a margin: a regression floor.
SHIPPED_FLOOR = 0.85  # measured 1.0 (32 of 32) at guidance 3


@pytest.fixture(scope="module")
def teacher_seen_accuracy(nets):
    from mcm.sampler.api import build_video_generator

    gen = build_video_generator(teacher="toy", scheduler="ddim", steps=TEST_DDIM_STEPS,
                                overrides=(f"teacher.path={ASSETS / 'teacher'}",))
    its = items(WORLD, "seen", 32)
    with torch.no_grad():
        videos = gen([it.caption for it in its], [it.index for it in its])
        logits = nets.attribute_logits(videos.float().clamp(0, 1))
    ok = torch.ones(32, dtype=torch.bool)
    for attr in ("shape", "colour", "direction"):
        ok &= logits[attr].argmax(-1) == torch.tensor([getattr(it.combo, attr) for it in its])
    return ok.float().mean().item()


@pytest.mark.slow
def test_teacher_keeps_its_measured_accuracy(teacher_seen_accuracy):
    assert teacher_seen_accuracy >= SHIPPED_FLOOR


@pytest.mark.slow
def test_teacher_draws_the_seen_prompts(teacher_seen_accuracy):
    """The issue's bar: shape, colour and direction right on >= 80% of 32 seen prompts."""
    assert teacher_seen_accuracy >= 0.80
