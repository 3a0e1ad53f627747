import json

import pytest
import torch

from mcm.eval.config import PromptSetConfig
from mcm.eval.prompts import iter_reference_videos, load_prompt_set, read_video


def test_msrvtt_one_caption_per_video(tmp_path):
    data = {
        "videos": [{"video_id": "video7010", "split": "test"}, {"video_id": "video1", "split": "train"},
                   {"video_id": "video7011", "split": "test"}],
        "sentences": [
            {"video_id": "video7010", "sen_id": 5, "caption": "later caption"},
            {"video_id": "video7010", "sen_id": 2, "caption": "first caption"},
            {"video_id": "video1", "sen_id": 0, "caption": "train caption"},
            {"video_id": "video7011", "sen_id": 9, "caption": "only caption"},
        ],
    }
    (tmp_path / "test_videodatainfo.json").write_text(json.dumps(data))
    cfg = PromptSetConfig(path=tmp_path / "test_videodatainfo.json", format="msrvtt_json", video_root=tmp_path)
    ps = load_prompt_set(cfg)
    assert ps.prompts == ["first caption", "only caption"]
    assert ps.videos == [tmp_path / "video7010.mp4", tmp_path / "video7011.mp4"]
    rnd = load_prompt_set(cfg.model_copy(update={"caption_rule": "random"}))
    assert rnd.prompts[0] in {"first caption", "later caption"} and rnd.prompts[1] == "only caption"


def test_csv_errors_and_limit(tmp_path):
    (tmp_path / "p.csv").write_text("caption,video\nsunset over sea,\nrain,\n")
    ps = load_prompt_set(PromptSetConfig(path=tmp_path / "p.csv", limit=1))
    assert ps.prompts == ["sunset over sea"] and ps.reference_videos == []
    with pytest.raises(ValueError, match="caption_column 'prompt'"):
        load_prompt_set(PromptSetConfig(path=tmp_path / "p.csv", caption_column="prompt"))


def test_read_video_roundtrip_and_corrupt_skipped(tmp_path, textures, video_writer):
    video = textures(1, 8, 32, seed=0)[0]
    video_writer(tmp_path / "v.mp4", video)
    back = read_video(tmp_path / "v.mp4", max_frames=5)
    assert back.shape == (5, 3, 32, 32)
    assert (back - video[:5]).abs().mean() < 0.02
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    skipped: list[str] = []
    got = list(iter_reference_videos([tmp_path / "bad.mp4", tmp_path / "v.mp4"], None, skipped))
    assert len(got) == 1 and got[0].shape[0] == 8 and len(skipped) == 1 and "bad.mp4" in skipped[0]
    assert torch.isfinite(got[0]).all()
