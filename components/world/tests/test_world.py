"""The world component: unit (the metadata it records) and kfp.local (it writes the world the data steps read)."""

import csv
import json

from pipelines.params import TINY, load_params

PARAMS = load_params(overlays=[TINY])


def test_world_component_writes_the_tables_the_data_steps_read(world_dir):
    info = json.loads((world_dir / "world.json").read_text())
    assert info["counts"]["videos"] == PARAMS["world"]["num_videos"] == 8
    with open(world_dir / "videos.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and all((world_dir / r["path"]).is_file() for r in rows)
    assert {"id", "path", "caption"} <= set(rows[0])
    with open(world_dir / "images.csv") as f:
        images = list(csv.DictReader(f))
    assert len(images) == 8 and {"aesthetic", "url", "caption"} <= set(images[0])
    for name in ("seen", "zero_shot"):
        with open(world_dir / f"prompts/{name}.csv") as f:
            assert len(list(csv.DictReader(f))) == PARAMS["world"]["prompts_per_set"]


def test_step_images_come_from_the_image_table_and_the_environment(monkeypatch):
    """Unit: a component's image is {registry}/{name}:{tag} of images/images.yaml; MCM_IMAGE_* override it."""
    import yaml

    from components.images import IMAGES_FILE, image

    table = yaml.safe_load(IMAGES_FILE.read_text())
    assert image("world") == f"{table['registry']}/mcm-world:{table['tag']}"
    monkeypatch.setenv("MCM_IMAGE_REGISTRY", "registry.example/team")
    monkeypatch.setenv("MCM_IMAGE_TAG", "v9")
    assert image("world") == "registry.example/team/mcm-world:v9"
    import pytest

    with pytest.raises(ValueError, match="no image for step 'nope'"):
        image("nope")
