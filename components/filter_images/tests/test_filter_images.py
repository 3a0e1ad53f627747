"""The image filter component under kfp.local: rows below the aesthetic threshold are filtered and counted."""

import csv
import json

from pipelines.params import TINY, load_params

PARAMS = load_params(overlays=[TINY])


def test_low_aesthetic_rows_are_filtered_and_counted(image_shards, world_dir):
    manifest = json.loads((image_shards / "manifest.json").read_text())
    with open(world_dir / "images.csv") as f:
        scores = [float(r["aesthetic"]) for r in csv.DictReader(f)]
    low = sum(s < PARAMS["data_images"]["min_aesthetic"] for s in scores)
    assert manifest["complete"] and manifest["num_input"] == len(scores) == 8
    assert manifest["num_written"] == len(scores) - low
    assert sum(manifest["filtered"].values()) == low
