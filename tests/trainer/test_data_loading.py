"""The image dataset M: sources, per-micro-batch positioning, frames of V as the default real images."""

import numpy as np
import torch
from PIL import Image

from mcm.config.load import load_config
from mcm.trainer.data_loading import build_image_dataset, build_image_loader, real_frames_of_videos


def test_csv_images_load_cropped_in_unit_range(tmp_path):
    rows = ["path,caption"]
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.fromarray(np.full((24, 40, 3), colour, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,image {i}")
    (tmp_path / "m.csv").write_text("\n".join(rows))
    cfg = load_config("mcm_tiny", ["images.source=csv", f"images.path={tmp_path / 'm.csv'}", f"images.root={tmp_path}"])
    ds = build_image_dataset(cfg)
    item = ds[1]
    assert item["image"].shape == (3, 16, 16) and item["caption"] == "image 1"
    torch.testing.assert_close(item["image"][:, 8, 8], torch.tensor([-1.0, -1.0, 1.0]))


def test_image_loader_resumes_at_the_micro_batch_position():
    cfg = load_config("mcm_tiny", ["images.source=synthetic", "images.synthetic_size=40"])
    ds = build_image_dataset(cfg)
    stream = iter(build_image_loader(ds, cfg, 0, 1, start=0, batch_size=4))
    batches = [next(stream)["caption"] for _ in range(5)]
    resumed = iter(build_image_loader(ds, cfg, 0, 1, start=3, batch_size=4))
    assert next(resumed)["caption"] == batches[3]
    # two ranks with 2 images each read what one process with 4 reads
    halves = [next(iter(build_image_loader(ds, cfg, r, 2, start=0, batch_size=2)))["caption"] for r in (0, 1)]
    assert halves[0] + halves[1] == batches[0]


def test_frames_of_v_serve_as_real_images():
    video = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1, 1, 1).expand(2, 4, 3, 2, 2)
    frames = real_frames_of_videos(video, torch.tensor([[0, 2], [1, 3]]))
    assert frames.shape == (4, 3, 2, 2) and frames[:, 0, 0, 0].tolist() == [0.0, 2.0, 5.0, 7.0]
