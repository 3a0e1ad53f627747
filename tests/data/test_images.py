"""Image filtering: metadata rules, CLIP+head aesthetic score from local files, shards read back."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from mcm.data.aesthetic import AestheticHead, AestheticScorer, AestheticScorerConfig
from mcm.data.images import ImageFilterConfig, filter_images
from mcm.data.shards import ImageShardDataset


@pytest.fixture(scope="module")
def scorer_files(tmp_path_factory):
    """A tiny random CLIP vision model and an MLP head saved to local files."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    d = tmp_path_factory.mktemp("scorer")
    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8, projection_dim=8)
    CLIPVisionModelWithProjection(cfg).save_pretrained(d / "clip")
    head = AestheticHead([torch.nn.Linear(8, 4), torch.nn.Linear(4, 1)])
    save_file(head.compact_state_dict(), str(d / "head.safetensors"))
    return AestheticScorerConfig(clip_path=str(d / "clip"), head_path=str(d / "head.safetensors"))


@pytest.fixture(scope="module")
def image_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / f"im{i}.png")
        rows.append({"id": f"im{i}", "url": f"im{i}.png", "caption": f"image {i} ✓", "aesthetic": 6.5,
                     "width": 48, "height": 40, "pwatermark": 0.1})
    rows[1]["aesthetic"] = 5.0        # low score
    rows[2]["width"] = 200            # aspect 5
    rows[3]["pwatermark"] = 0.9       # watermark
    rows[4]["caption"] = ""           # bad: no caption
    (root / "broken.png").write_bytes(b"\x89PNG broken")
    rows.append({"id": "broken", "url": "broken.png", "caption": "x", "aesthetic": 7, "width": 48, "height": 40})
    rows.append({"id": "gone", "url": "gone.png", "caption": "x", "aesthetic": 7, "width": 48, "height": 40})
    path = root / "meta.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path, root


def test_filter_by_metadata(image_set, tmp_path):
    path, root = image_set
    m = filter_images(ImageFilterConfig(input=str(path), root=str(root), output=str(tmp_path), min_size=32,
                                        max_watermark=0.5))
    assert m.num_input == 8 and m.num_written == 2
    assert m.filtered == {"bad_aspect": 1, "low_aesthetic": 1, "watermark": 1}
    assert m.skipped == {"decode_error": 1, "missing_caption": 1, "unreachable": 1}
    items = list(ImageShardDataset(str(tmp_path), size=32, repeat=False, shuffle_buffer=0))
    assert [it["caption"] for it in items] == ["image 0 ✓", "image 5 ✓"]
    assert items[0]["image"].shape == (3, 32, 32) and items[0]["image"].abs().max() <= 1.0
    raw = list(ImageShardDataset(str(tmp_path), repeat=False, shuffle_buffer=0))[0]["image"]
    expect = torch.from_numpy(np.asarray(Image.open(root / "im0.png"))).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(raw, expect)  # original PNG bytes kept: lossless


def test_aesthetic_computed_when_metadata_lacks_it(image_set, scorer_files, tmp_path):
    path, root = image_set
    scorer = AestheticScorer(scorer_files)
    imgs = [Image.open(root / f"im{i}.png") for i in (0, 5)]
    scores = scorer(imgs)
    assert scores.shape == (2,) and np.isfinite(scores).all() and scores[0] != scores[1]
    # reference: the same computation written out by hand
    emb = scorer.model(pixel_values=scorer.preprocess(imgs)).image_embeds
    emb = emb / emb.norm(dim=-1, keepdim=True)
    np.testing.assert_allclose(scores, scorer.head(emb).detach().numpy(), rtol=1e-5)
    passing = [0, 1, 5]  # rows that pass every rule but the (now missing) aesthetic score
    all_scores = scorer([Image.open(root / f"im{i}.png") for i in passing])
    threshold = float(np.median(all_scores))
    expect = sorted(f"image {i} ✓" for i, sc in zip(passing, all_scores) if sc >= threshold)
    m = filter_images(ImageFilterConfig(input=str(path), root=str(root), output=str(tmp_path), min_size=32,
                                        max_watermark=0.5, aesthetic_column="no_such_column",
                                        min_aesthetic=threshold, scorer=scorer_files))
    assert m.num_written == len(expect) == 2 and m.filtered["low_aesthetic"] == 1
    assert sorted(it["caption"] for it in ImageShardDataset(str(tmp_path), repeat=False)) == expect
    with pytest.raises(ValueError, match="scorer"):
        filter_images(ImageFilterConfig(input=str(path), root=str(root), output=str(tmp_path / "x"), min_size=32,
                                        aesthetic_column="no_such_column"))
