"""Prepare one shard group of the video set V (decode, sample frames, resize, write clip shards): the pipeline fans
this out over ``pipeline.shard_groups`` groups (ParallelFor); ``merge_shards`` joins them."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import image


@dsl.component(base_image=image("data"), install_kfp_package=False)
def prepare_videos(world: Input[Dataset], config: dict, group: int, num_groups: int, shards: Output[Dataset]):
    """``mcm data videos`` (params.yaml ``data_videos``) over group ``group`` of ``num_groups`` of the world's table."""
    from components.common import mcm, relative_input, write_config

    section = dict(config, input=f"{world.path}/{relative_input(config)}", root=world.path, output=shards.path,
                   task_index=group, num_tasks=num_groups)
    mcm(["data", "videos", "--config", write_config(section, f"videos-{group}")])
    shards.metadata.update({"group": group, "num_groups": num_groups})
