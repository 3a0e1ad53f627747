import json

import pytest
import torch
import yaml

from mcm.eval.config import EvalConfig, load_eval_config
from mcm.eval.clipsim import CLIPSim
from mcm.eval.fid import FIDFeatures
from mcm.eval.fvd import FVDFeatures
from mcm.eval.i3d import InceptionI3d
from mcm.eval.motion import MotionFeatures
from mcm.eval.runner import run_evaluation
from mcm.eval.suite import MetricSuite

FRAMES, SIZE = 8, 32


class FakeFactory:
    """generator_factory stand-in: videos = smooth textures + noise whose size falls with steps."""

    def __init__(self, textures):
        self.textures, self.calls = textures, []

    def __call__(self, steps, device, scheduler="lcm", guidance=None):
        def generate(prompts, seeds):
            self.calls.append((steps, len(prompts), torch.is_inference_mode_enabled()))
            vids = [self.textures(1, FRAMES, SIZE, seed=1000 + s)[0] for s in seeds]
            g = torch.Generator().manual_seed(seeds[0] * 7 + steps)
            noise = torch.randn(len(seeds), FRAMES, 3, SIZE, SIZE, generator=g)
            return (torch.stack(vids) + noise * 0.3 / steps).clamp(0, 1)

        return generate


@pytest.fixture
def eval_setup(tmp_path, textures, video_writer, tiny_clip, frame_net):
    rows = ["caption,video"]
    for i in range(6):
        video_writer(tmp_path / f"ref{i}.mp4", textures(1, FRAMES, SIZE, seed=i)[0])
        rows.append(f"a moving texture {chr(97 + i)},ref{i}.mp4")
    (tmp_path / "prompts.csv").write_text("\n".join(rows) + "\n")
    cfg = {
        "prompts": {"path": str(tmp_path / "prompts.csv")},
        "methods": [
            {"method": "MCM (ours)", "steps": 1, "generator": {"scheduler": "lcm"}},
            {"method": "MCM (ours)", "steps": 4, "generator": {"scheduler": "lcm"}},
            {"method": "DDIM", "steps": 4, "generator": {"scheduler": "ddim", "guidance": 9.0}},
        ],
        "out_dir": str(tmp_path / "out"),
        "batch_size": 4,
        "num_videos": 10,
        "grid_prompts": 2,
        "fvd": {"num_frames": FRAMES, "resolution": SIZE},
        "motion": {"num_frames": FRAMES, "grid": 16, "blocks": 2},
        "fid": {"enabled": True, "frames_per_video": 2},
    }
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(cfg))
    config = load_eval_config(tmp_path / "eval.yaml")
    torch.manual_seed(0)
    model, tok = tiny_clip
    suite = MetricSuite(
        fvd=FVDFeatures(InceptionI3d(), config.fvd),
        motion_fd=MotionFeatures(config.motion),
        fid=FIDFeatures(frame_net, config.fid, dim=16),
        clipsim=CLIPSim(model, tok),
    )
    return config, suite


def test_run_writes_metrics_report_and_is_deterministic(eval_setup, textures):
    config, suite = eval_setup
    factory = FakeFactory(textures)
    doc = run_evaluation(config, factory, suite)
    out = config.out_dir
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["results"] == json.loads(json.dumps(doc["results"]))
    by_key = {r["key"]: r["metrics"] for r in doc["results"]}
    assert set(by_key["DDIM@4"]) == {"fvd", "motion_fd", "fid", "clipsim"}
    # less noise at more steps -> closer to the reference videos
    assert by_key["MCM (ours)@4"]["fid"] < by_key["MCM (ours)@1"]["fid"]
    assert by_key["MCM (ours)@4"]["motion_fd"] < by_key["MCM (ours)@1"]["motion_fd"]
    # batched, under inference mode; 10 videos in batches of 4 -> 4, 4, 2
    assert [c[1] for c in factory.calls[:3]] == [4, 4, 2] and all(c[2] for c in factory.calls)

    html = (out / "report.html").read_text()
    assert "FVD@Step" in html and "CLIPSIM@Step" in html and "clip_sampling=first" in html
    assert (out / "plot_fvd.png").stat().st_size > 1000
    assert (out / "grid" / "ddim-4_0001.gif").is_file() and "grid/mcm-ours-1_0000.gif" in html
    assert list((out / "reference_stats").glob("prompts-fvd-*.safetensors"))

    again = run_evaluation(config, FakeFactory(textures), suite)  # reference statistics now from the cache
    for a, b in zip(doc["results"], again["results"]):
        assert a["metrics"] == pytest.approx(b["metrics"], rel=1e-9)


def test_method_spec_validation():
    with pytest.raises(ValueError, match="steps"):
        EvalConfig.model_validate({"prompts": {"path": "p.csv"}, "methods": [{"generator": {"steps": 2}}]})
    with pytest.raises(ValueError, match="duplicate"):
        EvalConfig.model_validate({"prompts": {"path": "p.csv"}, "methods": [{"steps": 2}, {"steps": 2}]})
    with pytest.raises(ValueError, match="extra"):
        EvalConfig.model_validate({"prompts": {"path": "p.csv"}, "methods": [{}], "fvd": {"size": 3}})
