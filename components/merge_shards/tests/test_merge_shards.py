"""The join of the shard groups: unit (copying leaves a group's partial manifest out) and kfp.local (the merged set
has every shard once and a manifest equal to preparing the set in one task)."""

import json

from components.common import copy_tree


def test_copy_tree_skips_and_replaces(tmp_path):
    (tmp_path / "a/sub").mkdir(parents=True)
    (tmp_path / "a/x.tar").write_text("new")
    (tmp_path / "a/manifest.json").write_text("{}")
    (tmp_path / "a/sub/y").write_text("y")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/x.tar").write_text("old")
    copy_tree(tmp_path / "a", tmp_path / "b", skip={"manifest.json"})
    assert (tmp_path / "b/x.tar").read_text() == "new" and (tmp_path / "b/sub/y").read_text() == "y"
    assert not (tmp_path / "b/manifest.json").exists()


def test_merged_set_equals_a_single_task_preparation(video_shards, world_dir, tmp_path):
    from components.common import write_config
    from pipelines.params import TINY, load_params

    PARAMS = load_params(overlays=[TINY])
    from mcm.cli.main import main

    merged = video_shards["merged"]
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["complete"] and manifest["num_written"] == 8 and manifest["num_input"] == 8
    assert sorted(p.name for p in merged.glob("*.tar")) == sorted(
        p.name for g in video_shards["groups"] for p in g.glob("*.tar"))
    # the same set prepared by one task: the same content hash
    single = dict(PARAMS["data_videos"], input=f"{world_dir}/videos.csv", root=str(world_dir),
                  output=str(tmp_path / "single"))
    assert main(["data", "videos", "--config", write_config(single)]) == 0
    assert json.loads((tmp_path / "single/manifest.json").read_text())["content_hash"] == manifest["content_hash"]
