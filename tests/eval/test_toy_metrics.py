"""The small world's evaluation protocol (mcm.eval.toy): pixel metrics, accuracies, and `mcm eval` with protocol toy."""

import argparse
import json
from html import escape

import numpy as np
import pytest
import torch
import yaml

from mcm.eval.config import load_eval_config
from mcm.eval.toy import (
    TOY_METRICS,
    attribute_correct,
    centroid_track,
    is_collapsed,
    motion_direction,
    prompt_accuracy,
    prompt_targets,
    sharpness,
    wilson_interval,
)
from mcm.world import render
from mcm.world.sets import WorldConfig, clips, items
from mcm.world.spec import ATTRIBUTES, DIRECTIONS, all_combos

WORLD = WorldConfig(num_videos=8, num_images=16, num_styled=4, prompts_per_set=8)


def _videos(uint8_clips: np.ndarray) -> torch.Tensor:
    """World clips uint8 (N, F, H, W, 3) -> eval videos float (N, F, 3, H, W) in [0, 1]."""
    return torch.from_numpy(uint8_clips).permute(0, 1, 4, 2, 3).float() / 255.0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from mcm.world.write import write_world

    root = tmp_path_factory.mktemp("world")
    write_world(WORLD, root)
    return root


# ------------------------------------------------------------------------------------------ pixel metrics
@pytest.mark.parametrize("look", ["clean", "degraded"])
def test_motion_direction_recovers_every_direction(look):
    cfg = WorldConfig()
    seen, seen_items = clips(cfg, "seen", 48, look=look)  # the 48 seen combinations, 12 per direction
    held, held_items = clips(cfg, "zero_shot", 16, look=look)  # the 16 held-out ones, 4 per direction
    videos = _videos(np.concatenate([seen, held]))
    truth = [DIRECTIONS[it.combo.direction] for it in seen_items + held_items]
    got = [motion_direction(v) for v in videos]
    for d in DIRECTIONS:
        rows = [g == t for g, t in zip(got, truth) if t == d]
        assert len(rows) == 16 and sum(rows) / len(rows) >= 0.98, (look, d, got)
    # the same answer from the world's own layout (F, H, W, 3) uint8
    assert [motion_direction(c) for c in seen[:8]] == got[:8]
    track = centroid_track(videos[0])
    assert track.shape == (cfg.num_frames, 2) and np.isfinite(track).all()


def test_motion_direction_none_without_motion():
    clip, _ = clips(WorldConfig(), "seen", 1, look="clean")
    still = _videos(np.repeat(clip[:, :1], 8, axis=1))[0]
    assert motion_direction(still) is None
    assert motion_direction(torch.full((8, 3, 32, 32), 0.2)) is None
    back_and_forth = _videos(clip)[0]
    assert motion_direction(torch.cat([back_and_forth, back_and_forth.flip(0)])) is None


def test_sharpness_orders_clean_images_above_degraded_videos():
    cfg = WorldConfig()
    m = [it for it in items(cfg, "images", 96) if it.aesthetic >= 6]
    m_frames = torch.from_numpy(np.stack([render.to_uint8(it.pixels(cfg)) for it in m])).permute(0, 3, 1, 2)
    v_clips, _ = clips(cfg, "videos", 12)  # V as stored: blurred, low contrast, watermark, noise
    v_frames = _videos(v_clips).flatten(0, 1)
    s_m, s_v = sharpness(m_frames), sharpness(v_frames)
    assert s_m > 1.5 * s_v, (s_m, s_v)
    # the same clips, clean, are as sharp as M
    clean, _ = clips(cfg, "videos", 12, look="clean")
    assert sharpness(_videos(clean).flatten(0, 1)) > 1.5 * s_v


def test_collapsed_detects_constant_and_black_videos():
    g = torch.Generator().manual_seed(0)
    constant = torch.full((8, 3, 32, 32), 0.5) + 0.005 * torch.randn(8, 3, 32, 32, generator=g)
    black = 0.02 * torch.rand(8, 3, 32, 32, generator=g)
    assert is_collapsed(constant) and is_collapsed(black)
    cfg = WorldConfig()
    for look in ("clean", "degraded"):
        videos = _videos(clips(cfg, "videos", 16, look=look)[0])
        assert not any(is_collapsed(v) for v in videos)


# ------------------------------------------------------------------------------------ accuracy, intervals
def test_prompt_accuracy_perfect_and_constant_classifiers():
    targets = all_combos()  # balanced: every value 16 times per attribute
    perfect = {a: torch.nn.functional.one_hot(torch.tensor([getattr(t, a) for t in targets]), 4).float()
               for a in ATTRIBUTES}
    assert prompt_accuracy(perfect, targets) == {f"prompt_acc_{a}": 100.0 for a in ATTRIBUTES} | {"prompt_acc": 100.0}
    constant = {a: torch.tensor([[0.0, 1.0, 0.0, 0.0]]).repeat(len(targets), 1) for a in ATTRIBUTES}
    acc = prompt_accuracy(constant, targets)
    assert all(acc[f"prompt_acc_{a}"] == pytest.approx(25.0) for a in ATTRIBUTES)
    assert acc["prompt_acc"] == pytest.approx(100 / 64)
    ok = attribute_correct({a: x[:3] for a, x in perfect.items()}, targets[:3])
    assert ok["all"] == [1, 1, 1] and set(ok) == {*ATTRIBUTES, "all"}


def test_wilson_interval():
    lo, hi = wilson_interval(8, 10)
    assert 40 < lo < 80 < hi < 100
    assert wilson_interval(10, 10)[1] == pytest.approx(100.0) and wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 0) == (0.0, 100.0)


def test_prompt_targets_from_columns_or_captions(world, tmp_path):
    from mcm.eval.config import PromptSetConfig
    from mcm.eval.prompts import load_prompt_set

    cfg = PromptSetConfig(path=world / "prompts" / "seen.csv")
    ps = load_prompt_set(cfg)
    truth = [it.combo for it in items(WORLD, "seen", 8)]
    assert prompt_targets(cfg, ps) == truth
    (tmp_path / "captions.csv").write_text("caption\n" + "\n".join(f'"{p}"' for p in ps.prompts) + "\n")
    bare = PromptSetConfig(path=tmp_path / "captions.csv")
    assert prompt_targets(bare, load_prompt_set(bare)) == truth


# ------------------------------------------------------------------------------------------- end to end
def world_factory(steps, device, look="clean"):
    """generator_factory stand-in: video i is prompt i's own clip from mcm.world.sets, rendered as ``look``."""

    def generate(prompts, seeds):
        if look == "black":
            return torch.zeros(len(seeds), WORLD.num_frames, 3, WORLD.size, WORLD.size)
        return torch.cat([_videos(clips(WORLD, "seen", 1, start=s % WORLD.prompts_per_set, look=look)[0])
                          for s in seeds])

    return generate


def _toy_config(world, out, **overrides):
    cfg = {
        "protocol": "toy",
        "prompts": {"path": str(world / "prompts" / "seen.csv")},
        "methods": [{"method": "World", "steps": 1, "generator": {"look": "degraded"}},
                    {"method": "World", "steps": 2, "generator": {"look": "clean"}},
                    {"method": "Black", "steps": 1, "generator": {"look": "black"}}],
        "out_dir": str(out),
        "batch_size": 3,
        "grid_prompts": 1,
        "toy": {"networks_seed": 0, "images": str(world / "images.csv")},
        # real sections pointing at nothing: protocol toy must not load I3D, CLIP or Inception
        "fvd": {"weights": str(out / "missing-i3d.safetensors")},
        "clipsim": {"model": str(out / "missing-clip")},
    }
    cfg.update(overrides)
    return cfg


def test_run_evaluation_toy_protocol(world, tmp_path):
    from mcm.eval.config import EvalConfig
    from mcm.eval.runner import run_evaluation

    cfg = EvalConfig.model_validate(_toy_config(world, tmp_path / "out"))
    doc = run_evaluation(cfg, world_factory)
    res = {r["key"]: r for r in doc["results"]}
    clean, degraded = res["World@2"]["metrics"], res["World@1"]["metrics"]
    assert set(clean) == set(TOY_METRICS)
    assert clean["fvd_toy"] < 0.05 * degraded["fvd_toy"]  # the clean clips are the reference (up to mp4)
    assert clean["motion_score"] == 100.0 and degraded["motion_score"] == 100.0
    assert clean["collapsed_rate"] == 0.0 and clean["sharpness"] > degraded["sharpness"]
    assert 0.0 <= clean["prompt_acc"] <= clean["prompt_acc_shape"] <= 100.0
    toy = res["World@2"]["toy"]
    assert toy["num_videos"] == 8 and toy["num_frames"] == 64 and toy["video_indices"] == list(range(8))
    assert len(toy["per_video"]["prompt_acc"]) == 8 and set(toy["per_video"]["motion_score"]) == {1}
    lo, hi = toy["intervals_95"]["prompt_acc"]
    assert lo <= clean["prompt_acc"] <= hi

    saved = json.loads((cfg.out_dir / "metrics.json").read_text())
    assert saved["evaluation_protocol"] == "toy" and saved["config"]["protocol"] == "toy"
    assert saved["config"]["toy"]["networks_seed"] == 0 and "fvd_toy" in saved["protocol"]
    html = (cfg.out_dir / "report.html").read_text()
    assert "Prompt acc %@Step" in html and "Motion %@Step" in html and "Wilson" in html
    assert all(escape(TOY_METRICS[k]) in html for k in ("motion_score", "prompt_acc", "fvd_toy"))
    assert list((cfg.out_dir / "reference_stats").glob("seen-fvd_toy-*.safetensors"))
    assert list((cfg.out_dir / "reference_stats").glob("images-fid_toy-*.safetensors"))
    assert doc["protocol"]["fid_toy"].endswith("images).") and "aesthetic >= 6.0" in doc["protocol"]["fid_toy"]
    black = res["Black@1"]["metrics"]
    assert black["collapsed_rate"] == 100.0 and black["motion_score"] == 0.0 and black["sharpness"] == 0.0


@pytest.fixture
def no_plots(monkeypatch):
    """Skip the report's matplotlib plots (seconds each) where a test does not look at them."""
    from mcm.eval import report

    monkeypatch.setattr(report, "plot_metrics", lambda results, out_dir: [])


def test_toy_reference_statistics_are_cached(world, tmp_path, no_plots):
    from mcm.eval.config import EvalConfig
    from mcm.eval.runner import run_evaluation

    data = _toy_config(world, tmp_path / "out", grid_prompts=0,
                       methods=[{"method": "World", "steps": 1, "generator": {"look": "degraded"}}])
    cfg = EvalConfig.model_validate(data)
    first = run_evaluation(cfg, world_factory)["results"][0]["metrics"]
    stats = sorted((cfg.out_dir / "reference_stats").iterdir())
    assert len(stats) == 2
    again = run_evaluation(cfg, world_factory)["results"][0]["metrics"]  # reference statistics from the cache
    assert again == pytest.approx(first, rel=1e-9) and sorted((cfg.out_dir / "reference_stats").iterdir()) == stats


def test_eval_cli_toy_protocol(world, tmp_path, monkeypatch, no_plots):
    from mcm.cli import eval as eval_cli
    from mcm.eval import runner

    data = _toy_config(world, tmp_path / "out", protocol="real", methods=[{"method": "World", "steps": 2}])
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(runner, "default_generator_factory", world_factory)
    parser = argparse.ArgumentParser(prog="mcm")
    eval_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", "--config", str(tmp_path / "eval.yaml"), "--protocol", "toy"])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["evaluation_protocol"] == "toy"
    assert saved["results"][0]["metrics"]["motion_score"] == 100.0
    assert load_eval_config(tmp_path / "eval.yaml").protocol == "real"  # the file itself says real


def test_toy_protocol_needs_the_networks(world, tmp_path):
    from mcm.eval.config import EvalConfig
    from mcm.eval.runner import run_evaluation

    data = _toy_config(world, tmp_path / "out")
    data["toy"] = {"networks": str(tmp_path / "no-such-folder")}
    with pytest.raises(ValueError, match="toy.networks"):
        run_evaluation(EvalConfig.model_validate(data), world_factory)
