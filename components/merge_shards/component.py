"""Join the shard groups of the video set: copy every group's shards and their stats into one folder, then let
``mcm data videos`` see every shard done (nothing is decoded again) and write the set's manifest."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import image


@dsl.component(base_image=image("data"), install_kfp_package=False)
def merge_video_shards(world: Input[Dataset], groups: Input[List[Dataset]], config: dict, videos: Output[Dataset]):
    """Merge ``groups`` (the fan-out's outputs) into ``videos`` with its ``manifest.json``."""
    import json
    from pathlib import Path

    from components.common import copy_tree, mcm, relative_input, write_config

    for group in groups:
        copy_tree(group.path, videos.path, skip={"manifest.json"})
    section = dict(config, input=f"{world.path}/{relative_input(config)}", root=world.path, output=videos.path,
                   task_index=0, num_tasks=1)
    mcm(["data", "videos", "--config", write_config(section, "videos-merge")])
    manifest = json.loads((Path(videos.path) / "manifest.json").read_text())
    videos.metadata.update({"num_written": manifest["num_written"], "skipped": manifest["skipped"],
                            "content_hash": manifest["content_hash"], "groups": len(groups)})
