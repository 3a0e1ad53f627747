"""`mcm eval` end to end with the real sampler: a distilled tiny student at 1 and 2 steps and the tiny
teacher with DDIM, through mcm.sampler.api.build_video_generator (the runner's default factory)."""

import json

import torch
import yaml

from mcm.config.load import load_config
from mcm.eval.clipsim import CLIPSim
from mcm.eval.config import load_eval_config
from mcm.eval.fid import FIDFeatures
from mcm.eval.fvd import FVDFeatures
from mcm.eval.i3d import InceptionI3d
from mcm.eval.motion import MotionFeatures
from mcm.eval.runner import run_evaluation
from mcm.eval.suite import MetricSuite
from mcm.trainer.trainer import Trainer

FRAMES, SIZE = 8, 32
SHAPE = [f"data.num_frames={FRAMES}", f"data.height={SIZE}", f"data.width={SIZE}"]


def test_student_and_teacher_baseline_through_the_real_sampler(tmp_path, textures, video_writer, tiny_clip, frame_net):
    run = tmp_path / "run"
    Trainer(load_config("tiny", SHAPE + ["optim.max_steps=1", "train.validate_every=0"]), run).train()

    rows = ["caption,video"]
    for i in range(4):
        video_writer(tmp_path / f"ref{i}.mp4", textures(1, FRAMES, SIZE, seed=i)[0])
        rows.append(f"a red ball moving {['left', 'right', 'up', 'down'][i]},ref{i}.mp4")
    (tmp_path / "prompts.csv").write_text("\n".join(rows) + "\n")
    cfg = {
        "prompts": {"path": str(tmp_path / "prompts.csv")},
        "methods": [
            {"method": "MCM (ours)", "steps": 1, "generator": {"checkpoint": str(run)}},
            {"method": "MCM (ours)", "steps": 2, "generator": {"checkpoint": str(run)}},
            {"method": "DDIM", "steps": 2, "generator": {"teacher": "tiny", "scheduler": "ddim", "guidance": 7.5,
                                                         "overrides": SHAPE}},
        ],
        "out_dir": str(tmp_path / "out"),
        "batch_size": 4,
        "num_videos": 4,
        "grid_prompts": 2,
        "fvd": {"num_frames": FRAMES, "resolution": SIZE},
        "motion": {"num_frames": FRAMES, "grid": 16, "blocks": 2},
        "fid": {"enabled": True, "frames_per_video": 2},
    }
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(cfg))
    config = load_eval_config(tmp_path / "eval.yaml")
    model, tok = tiny_clip
    suite = MetricSuite(
        fvd=FVDFeatures(InceptionI3d(), config.fvd),
        motion_fd=MotionFeatures(config.motion),
        fid=FIDFeatures(frame_net, config.fid, dim=16),
        clipsim=CLIPSim(model, tok),
    )
    doc = run_evaluation(config, None, suite)
    by_key = {r["key"]: r["metrics"] for r in doc["results"]}
    assert set(by_key) == {"MCM (ours)@1", "MCM (ours)@2", "DDIM@2"}
    for metrics in by_key.values():
        assert all(torch.isfinite(torch.tensor(float(v))) for v in metrics.values())
    saved = json.loads((config.out_dir / "metrics.json").read_text())
    assert len(saved["results"]) == 3
    assert (config.out_dir / "report.html").stat().st_size > 0
    # Deterministic for fixed seeds: a second run gives the same numbers.
    again = run_evaluation(config, None, suite)
    assert [r["metrics"] for r in again["results"]] == [r["metrics"] for r in doc["results"]]
