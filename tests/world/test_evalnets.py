"""The world's evaluation networks: interface, determinism, save/load, resumable training (tiny configs)."""

import json

import pytest
import torch

from mcm.world import evalnets as E
from mcm.world.sets import WorldConfig
from mcm.world.spec import Combo, is_held_out

WORLD = WorldConfig()


def tiny_config(**overrides) -> E.EvalNetTrainConfig:
    """Two steps of small batches per network, a 12-clip pool, a 4-item report, the current thread count."""
    nets = {}
    for name in E.NET_NAMES:
        default = E.EvalNetTrainConfig().net(name)
        nets[name] = default.model_copy(update={"steps": 2, "batch": 4})
    return E.EvalNetTrainConfig(**nets, pool_clips=12, eval_items=4, threads=None, log_every=1, **overrides)


@pytest.fixture(scope="module")
def pool():
    return E.build_pool(WORLD, 12)


def test_interface_shapes_ranges_and_sizes():
    nets = E.build_eval_networks(seed=0)
    videos, frames = torch.rand(3, 8, 3, 32, 32), torch.rand(5, 3, 32, 32)
    logits = nets.attribute_logits(videos)
    assert set(logits) == {"shape", "colour", "direction"}
    assert all(v.shape == (3, 4) for v in logits.values())
    assert nets.fvd_features(videos).shape == (3, nets.fvd_dim)
    assert nets.frame_features(frames).shape == (5, nets.frame_dim)
    assert 64 <= nets.fvd_dim <= 128 and 64 <= nets.frame_dim <= 128
    for prob in (nets.watermark_prob(frames), nets.style_prob(frames)):
        assert prob.shape == (5,) and bool(((prob >= 0) & (prob <= 1)).all())
    # 64x64 inputs are resized to 32 inside; other frame counts work too.
    assert nets.fvd_features(torch.rand(2, 4, 3, 64, 64)).shape == (2, nets.fvd_dim)
    assert nets.attribute_logits(torch.rand(2, 4, 3, 64, 64))["direction"].shape == (2, 4)
    assert nets.frame_features(torch.rand(2, 3, 64, 64)).shape == (2, nets.frame_dim)
    # Frozen, eval mode.
    for module in nets.modules.values():
        assert not module.training and not any(p.requires_grad for p in module.parameters())
    with pytest.raises(ValueError, match=r"\(N, F, 3, H, W\)"):
        nets.fvd_features(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(M, 3, H, W\)"):
        nets.frame_features(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match="float in"):
        nets.watermark_prob(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    sizes = E.network_sizes(nets)
    assert all(sizes[n]["bytes"] < 1_000_000 for n in E.NET_NAMES) and sizes["total_bytes"] < 3_000_000


def test_build_is_seeded():
    a, b, c = E.build_eval_networks(1), E.build_eval_networks(1), E.build_eval_networks(2)
    frames = torch.rand(4, 3, 32, 32)
    assert torch.equal(a.frame_features(frames), b.frame_features(frames))
    assert not torch.equal(a.frame_features(frames), c.frame_features(frames))


def test_pool_holds_seen_combinations_only(pool):
    assert not any(is_held_out(Combo(*map(int, row))) for row in pool.labels)
    assert pool.bases.shape == (3, 12, WORLD.num_frames, WORLD.size, WORLD.size, 3)


def test_training_is_deterministic(pool):
    cfg = tiny_config()
    frame_state = None
    for name in E.TRAIN_ORDER:
        init = frame_state if name == "fvd" else None
        first = E.train_network(name, pool, cfg, log=lambda _: None, init=init).state_dict()
        second = E.train_network(name, pool, cfg, log=lambda _: None, init=init).state_dict()
        assert first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first), name
        if name == "frame":
            frame_state = first
    other = cfg.model_copy(update={"frame": cfg.frame.model_copy(update={"seed": cfg.frame.seed + 1})})
    changed = E.train_network("frame", pool, other, log=lambda _: None).state_dict()
    assert not all(torch.equal(first_v, changed[k]) for k, first_v in
                   E.train_network("frame", pool, cfg, log=lambda _: None).state_dict().items())


def test_save_load_round_trip(tmp_path):
    nets = E.build_eval_networks(seed=3)
    E.save_eval_networks(nets, tmp_path)
    for name in E.NET_NAMES:
        assert (tmp_path / name / "model.safetensors").is_file() and (tmp_path / name / "config.json").is_file()
    loaded = E.load_eval_networks(tmp_path)
    videos, frames = torch.rand(2, 8, 3, 32, 32), torch.rand(3, 3, 32, 32)
    a, b = nets.attribute_logits(videos), loaded.attribute_logits(videos)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(nets.fvd_features(videos), loaded.fvd_features(videos))
    assert torch.equal(nets.frame_features(frames), loaded.frame_features(frames))
    assert torch.equal(nets.watermark_prob(frames), loaded.watermark_prob(frames))
    assert torch.equal(nets.style_prob(frames), loaded.style_prob(frames))
    assert (loaded.fvd_dim, loaded.frame_dim) == (nets.fvd_dim, nets.frame_dim)
    E.save_eval_networks(loaded, tmp_path)  # overwriting a complete folder works
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_folder_or_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="evaluation networks folder not found"):
        E.load_eval_networks(tmp_path / "absent")
    E.save_eval_networks(E.build_eval_networks(), tmp_path)
    (tmp_path / "watermark" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"'watermark'.*watermark/model\.safetensors"):
        E.load_eval_networks(tmp_path)


def test_train_eval_networks_saves_reports_and_resumes(tmp_path):
    lines: list[str] = []
    report = E.train_eval_networks(WORLD, tmp_path, tiny_config(), log=lines.append)
    assert set(E.NET_NAMES) <= set(report["seconds"]) and report["skipped"] == []
    assert any("attributes: step 2/2" in line for line in lines)
    held = report["heldout"]
    assert set(held["attributes"]) == {"seen", "zero_shot"}
    assert set(held["attributes"]["zero_shot"]["degraded"]) == {"shape", "colour", "direction", "all"}
    assert 0 <= held["watermark"]["v_frames_flagged"] <= 1
    assert json.loads((tmp_path / "report.json").read_text())["skipped"] == []
    config = json.loads((tmp_path / "fvd" / "config.json").read_text())
    assert config["train"]["steps"] == 2 and config["world"]["seed"] == WORLD.seed
    # A second run keeps the complete folders; a removed one is trained again.
    before = (tmp_path / "frame" / "model.safetensors").read_bytes()
    (tmp_path / "style" / "config.json").unlink()
    lines.clear()
    again = E.train_eval_networks(WORLD, tmp_path, tiny_config(), log=lines.append)
    assert sorted(again["skipped"]) == sorted(set(E.NET_NAMES) - {"style"})
    assert "style" in again["seconds"] and (tmp_path / "style" / "config.json").is_file()
    assert (tmp_path / "frame" / "model.safetensors").read_bytes() == before


def test_fvd_net_inflated_from_frame_net_starts_as_it():
    """Before training its temporal parts, the fvd net on a still video equals the frame net on the frame."""
    widths = E.EvalNetTrainConfig().frame.widths
    frame_net = E._seeded_network("frame", {"widths": widths}, 5).eval()
    fvd_net = E._seeded_network("fvd", {"widths": widths}, 6)
    fvd_net.inflate_from(frame_net.state_dict())
    fvd_net.eval()
    frames = torch.rand(3, 3, 32, 32)
    still = frames[:, None].expand(3, 4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fvd_net.features(still), frame_net.features(frames), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="same widths"):
        E._seeded_network("fvd", {"widths": [8, 8]}, 0).inflate_from(frame_net.state_dict())
    with pytest.raises(ValueError, match="must equal frame.widths"):
        E.EvalNetTrainConfig(fvd=E.EvalNetTrainConfig().fvd.model_copy(update={"widths": [8, 8]}))


def test_soft_degradation_plus_watermark_and_noise_is_render_degrade():
    """The pool's "soft" base, watermarked and noised, is exactly V's degradation (render.degrade)."""
    import numpy as np

    from mcm.world import render
    from mcm.world.sets import item

    clean = item(WORLD, "networks", 0).clean(WORLD)
    deg = render.draw_degradation(np.random.default_rng(0))
    noise = np.random.default_rng(deg.noise_seed).normal(0.0, render.NOISE_SIGMA, clean.shape).astype(np.float32)
    composed = np.clip(render.add_watermark(E.soft_degrade(clean, deg)) + noise, 0.0, 1.0)
    np.testing.assert_allclose(composed, render.degrade(clean, deg), atol=1e-6)
