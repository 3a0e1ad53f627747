"""CSV image sets (images.source=csv): the LAION-aes rule images.min_aesthetic keeps rows at or above it."""

import numpy as np
import pytest
from PIL import Image

from mcm.config.load import load_config
from mcm.trainer.data_loading import build_image_dataset


def _table(tmp_path, scores):
    rows = ["id,url,caption,aesthetic"]
    for i, score in enumerate(scores):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"m{i}.png")
        rows.append(f"m{i},m{i}.png,caption {i},{score}")
    (tmp_path / "images.csv").write_text("\n".join(rows) + "\n")
    return ["images.source=csv", f"images.path={tmp_path / 'images.csv'}", f"images.root={tmp_path}",
            "images.path_column=url", "data.height=8", "data.width=8"]


def test_min_aesthetic_keeps_rows_at_or_above_it(tmp_path):
    sets = _table(tmp_path, [7.0, 5.9, 6.0, 3.0])
    everything = build_image_dataset(load_config("tiny", sets))
    kept = build_image_dataset(load_config("tiny", sets + ["images.min_aesthetic=6.0"]))
    assert len(everything) == 4 and len(kept) == 2
    assert [kept[i]["caption"] for i in range(2)] == ["caption 0", "caption 2"]
    # Image 2 is uniform grey 80: in [-1, 1] that is 80 / 127.5 - 1.
    assert kept[1]["image"].shape == (3, 8, 8)
    assert float(kept[1]["image"].mean()) == pytest.approx(80 / 127.5 - 1, abs=1e-3)


def test_min_aesthetic_errors_name_the_problem(tmp_path):
    sets = _table(tmp_path, [1.0, 2.0])
    with pytest.raises(ValueError, match="no row has aesthetic >= images.min_aesthetic=6.0"):
        build_image_dataset(load_config("tiny", sets + ["images.min_aesthetic=6.0"]))
    with pytest.raises(ValueError, match="has no column 'score'"):
        build_image_dataset(load_config("tiny", sets + ["images.min_aesthetic=6.0", "images.aesthetic_column=score"]))
