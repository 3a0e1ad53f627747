"""Filter the image set M (LAION-aesthetic-like) by aesthetic score, size and aspect ratio into image shards: the
discriminator's real data and, in mixed trajectories, the real-data branch."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import image


@dsl.component(base_image=image("data"), install_kfp_package=False)
def filter_images(world: Input[Dataset], config: dict, images: Output[Dataset]):
    """``mcm data images`` (params.yaml ``data_images``) over the world's image table into ``images``."""
    import json
    from pathlib import Path

    from components.common import mcm, relative_input, write_config

    section = dict(config, input=f"{world.path}/{relative_input(config)}", root=world.path, output=images.path)
    mcm(["data", "images", "--config", write_config(section, "images")])
    manifest = json.loads((Path(images.path) / "manifest.json").read_text())
    images.metadata.update({"num_written": manifest["num_written"], "filtered": manifest["filtered"],
                            "content_hash": manifest["content_hash"]})
