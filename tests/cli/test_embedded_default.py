"""The embedded default's plumbing: eval presets with --set, params.yaml sections, runs/LATEST, one-line errors
for weights that are neither local nor reachable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mcm.config.load import load_config
from mcm.eval.config import load_eval_config
from mcm.runs.folder import resolve_run, write_latest
from mcm.utils import weights

REPO = Path(__file__).resolve().parents[2]


def test_eval_preset_with_sets_and_sections():
    cfg = load_eval_config("toy", sets=["prompts.limit=8", "toy.batch_size=32"])
    assert cfg.protocol == "toy" and cfg.prompts.limit == 8 and cfg.toy.batch_size == 32
    keys = {m.key for m in cfg.methods}
    assert {"MCM (ours)@1", "MCM (ours)@8", "DDIM@50", "DPM++@4", "untrained student@4", "DDIM (g=1)@2"} <= keys
    assert len(keys) == 22  # 4 student + 4 untrained + 5 DDIM + 5 DPM++ + 4 unguided DDIM
    assert cfg.baseline_cache.dirs == [Path("assets/toy/baselines")]
    zero = load_eval_config(REPO / "params.yaml", section="eval_zero_shot", overrides={"out_dir": "x"})
    assert zero.prompts.path == Path("data/world/prompts/zero_shot.csv") and zero.out_dir == Path("x")
    assert [m.key for m in zero.methods] == [m.key for m in cfg.methods]  # the same preset underneath
    with pytest.raises(ValueError, match="methods"):
        load_eval_config("toy", sets=["methods=[]"])
    with pytest.raises(ValueError, match="neither a YAML file nor a preset"):
        load_eval_config("no-such-preset")


def test_params_yaml_sections_resolve():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    cfg = load_config(str(REPO / "params.yaml"), section="distill")
    assert cfg.teacher.path == "assets/toy/teacher" and cfg.motion.name == "learnable"
    assert cfg.discriminator.enabled and cfg.discriminator.backbone == "assets/toy/backbone"
    assert cfg.images.source == "shards" and cfg.images.path == params["data_images"]["output"]
    assert cfg.data.path == params["data_videos"]["output"] and cfg.distill.lambda_real == 0.5
    assert params["world"]["out"] + "/videos.csv" == params["data_videos"]["input"]


def test_latest_names_the_newest_run(tmp_path):
    with pytest.raises(ValueError, match="no run yet"):
        resolve_run(tmp_path / "LATEST")
    (tmp_path / "a").mkdir()
    write_latest(tmp_path / "a")
    assert resolve_run(tmp_path / "LATEST") == tmp_path / "a"
    assert resolve_run(tmp_path / "a") == tmp_path / "a"


def test_missing_weights_fail_fast_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "_hub_reachable", lambda: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(weights.WeightsNotFoundError) as err:
        with weights.weights_from("teacher.path", "someone/not-downloaded-model"):
            raise AssertionError("the block must not run")
    text = str(err.value)
    assert "\n" not in text and "teacher.path" in text and "huggingface-cli download someone/not-downloaded-model" in text
    with pytest.raises(weights.WeightsNotFoundError, match="local folder is missing"):
        with weights.weights_from("teacher.path", str(tmp_path)):
            raise OSError("no config.json")
