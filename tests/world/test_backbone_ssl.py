"""The self-supervised DINOv2 stand-in: determinism, atomic saving, loading through the discriminator's loader."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mcm.discriminator.backbone import DinoFeatureExtractor, load_dinov2
from mcm.discriminator.config import DiscriminatorConfig
from mcm.world import backbone_ssl as ssl
from mcm.world.sets import WorldConfig

WORLD = WorldConfig()
#: A few steps on a few clips: exercises every code path in about a second.
TINY = ssl.BackboneTrainConfig(
    pool_clips=2, steps=2, batch=4, warmup_steps=1, log_every=1,
    probe=ssl.ProbeConfig(start=2, train_clips=2, test_clips=2, frames_per_clip=1, iterations=3),
)
MAX_WEIGHT_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl")
    logs: list[str] = []
    results = [ssl.train_backbone(WORLD, root / name, TINY, log=logs.append) for name in ("a", "b")]
    return root, results, logs


def test_two_trainings_give_bit_identical_weights(trained):
    root, results, _ = trained
    a, b = (load_file(root / name / ssl.WEIGHTS_NAME) for name in ("a", "b"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and training changed them (the same seed's initial backbone differs)
    init = ssl.new_backbone(TINY.architecture, TINY.seed).state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a if k in init)
    assert results[0]["final_loss"] == results[1]["final_loss"]


def test_saved_atomically_with_a_record_and_small(trained):
    root, results, logs = trained
    assert sorted(p.name for p in root.iterdir()) == ["a", "b"]  # no temporary folder left
    folder = root / "a"
    assert ssl.is_complete(folder)
    record = json.loads((folder / ssl.RECORD_NAME).read_text())
    assert record["config"] == TINY.model_dump(mode="json")
    result = results[0]
    assert set(result) >= {"time_s", "final_loss", "losses", "probe", "num_parameters", "weights_bytes"}
    assert [p["step"] for p in result["losses"]] == [1, 2]
    assert {"shape", "colour", "look", "shape_centroid", "shape/degraded"} <= set(result["probe"])
    assert result["weights_bytes"] < MAX_WEIGHT_BYTES
    assert any("probe" in line for line in logs)


def test_a_complete_folder_is_kept(trained):
    root, results, _ = trained
    weights = root / "a" / ssl.WEIGHTS_NAME
    before = weights.stat().st_mtime_ns
    again = ssl.train_backbone(WORLD, root / "a", TINY, log=lambda _: None)
    assert again["skipped"] and again["final_loss"] == results[0]["final_loss"]
    assert weights.stat().st_mtime_ns == before


def test_a_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a complete backbone folder"):
        ssl.train_backbone(WORLD, tmp_path / "x", TINY, log=lambda _: None)


def test_loads_through_the_discriminator_loader(trained):
    root, _, _ = trained
    folder = str(root / "a")
    model = load_dinov2(folder)
    assert model.config.model_type == "dinov2" and model.config.image_size == 32
    ext = DinoFeatureExtractor(model, feature_blocks=(1, 3))
    pixels = torch.randn(2, 3, 32, 32)
    feats = ext(pixels)
    tokens = (32 // model.config.patch_size) ** 2
    assert [tuple(f.shape) for f in feats] == [(2, model.config.hidden_size, tokens)] * 2
    cfg = DiscriminatorConfig(backbone=folder, tiny_backbone=None, image_size=32, feature_blocks=(1, 3))
    from_cfg = DinoFeatureExtractor.from_config(cfg)
    for a, b in zip(from_cfg(pixels), feats):
        torch.testing.assert_close(a, b)


def test_default_architecture_is_under_two_megabytes():
    model = ssl.new_backbone(ssl.BackboneArchitecture(), seed=0)
    assert sum(p.numel() * p.element_size() for p in model.parameters()) < MAX_WEIGHT_BYTES


def test_seam_safe_roll_moves_the_object_without_splitting_it():
    frames, _ = ssl.render_frames(WORLD, 0, 4, ("clean", "degraded", "styled"), np.array([0]))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    rolled = ssl.seam_safe_roll(x, 0.2, np.random.default_rng(0))
    assert rolled.shape == x.shape
    torch.testing.assert_close(rolled.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # a permutation of the pixels
    assert not torch.equal(rolled, x)
    # the new edges are background lines (each within the threshold of its median): the object is whole inside
    for img in rolled:
        for line in (img[:, 0, :], img[:, :, 0]):  # first row, first column
            assert (line - line.median(dim=1, keepdim=True).values).abs().max() < 0.2


def test_views_are_deterministic_in_the_generator():
    frames, _ = ssl.render_frames(WORLD, 0, 2, ("clean",), np.array([0, 7]))
    cfg = ssl.ViewConfig()
    a = ssl.draw_views(frames, cfg, 32, np.random.default_rng(5))
    b = ssl.draw_views(frames, cfg, 32, np.random.default_rng(5))
    assert a.shape == (4, 3, 32, 32) and torch.equal(a, b)


def test_probe_reads_colour_from_features():
    model = ssl.new_backbone(ssl.BackboneArchitecture(), seed=0)
    probe = ssl.linear_probe(model, WORLD, ssl.ProbeConfig(start=0, train_clips=12, test_clips=12, iterations=30))
    assert probe["chance"] == 0.25 and probe["test_frames"] == 12 * 2 * 3
    assert probe["colour"] > 0.8 and probe["look"] > 0.8  # colour and look are easy even for a random ViT


def test_config_is_checked():
    with pytest.raises(ValueError, match="overlaps"):
        ssl.BackboneTrainConfig(pool_clips=800)
    with pytest.raises(ValueError, match="num_attention_heads"):
        ssl.BackboneArchitecture(hidden_size=64, num_attention_heads=3)
    with pytest.raises(ValueError, match="extra"):
        ssl.BackboneTrainConfig(step=3)
