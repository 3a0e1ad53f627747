"""Generate the small video world (the embedded default's input): V (WebVid-like clips + CSV), M (LAION-like images
+ metadata), the styled set and the seen / held-out prompt sets, written in the formats real data comes in."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.images import image


@dsl.component(base_image=image("world"), install_kfp_package=False)
def generate_world(config: dict, world: Output[Dataset]):
    """``mcm world`` with ``config`` (params.yaml ``world``) into the ``world`` artifact folder."""
    import json
    from pathlib import Path

    from components.common import mcm, write_config

    section = {k: v for k, v in config.items() if k != "out"}  # params.yaml's out is the local folder
    mcm(["world", "--config", write_config(section, "world"), "--out", world.path])
    info = json.loads((Path(world.path) / "world.json").read_text())
    world.metadata.update({"seed": info.get("seed", config.get("seed")), "counts": info.get("counts", {})})
