"""The video preparation component: unit (where it finds the input table) and kfp.local (each shard group writes
only its own shards; together they cover the set once)."""

import json

from components.common import relative_input


def test_input_table_is_found_relative_to_its_root():
    assert relative_input({"input": "data/world/videos.csv", "root": "data/world"}) == "videos.csv"
    assert relative_input({"input": "data/world/sub/videos.csv", "root": "data/world/"}) == "sub/videos.csv"
    assert relative_input({"input": "/elsewhere/webvid.csv", "root": "data/world"}) == "webvid.csv"


def test_each_group_writes_its_own_shards(video_shards):
    groups = video_shards["groups"]
    assert len(groups) == 2
    names = [sorted(p.name for p in g.glob("*.tar")) for g in groups]
    assert all(len(n) == 1 for n in names) and names[0] != names[1]  # 8 clips, 4 per shard: one shard per group
    for g in groups:
        assert not (g / "manifest.json").exists()  # a group alone is not the whole set
        stats = json.loads(next(g.glob("*.json")).read_text())
        assert stats["num_samples"] == 4
