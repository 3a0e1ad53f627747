"""The small world's generator: captions match pixels, nothing is truncated, held-out combinations stay out,
files are read by the real data preparation."""

import numpy as np
import pytest

from mcm.world import render
from mcm.world.sets import WorldConfig, clips, item, items
from mcm.world.spec import (
    COLOUR_RGB, COLOURS, DIRECTION_VECTORS, DIRECTIONS, all_combos, caption_variants, held_out_combos, is_held_out,
    parse_caption, seen_combos, tokenize_words, vocabulary,
)
from mcm.world.text_encoder import caption_batch
from mcm.world.tokenizer import WORLD_TEXT_MAX_LENGTH, build_world_tokenizer

WORLD = WorldConfig()
TRAINING_SETS = ("videos", "images", "styled", "networks")


def test_world_has_the_attributes_the_issue_asks_for():
    assert len(all_combos()) == 64 and len(held_out_combos()) == 16 and len(seen_combos()) == 48
    for attr in range(3):  # every value of every attribute is seen in training, and every pair of values
        assert {c.names[attr] for c in seen_combos()} == {c.names[attr] for c in all_combos()}
    pairs = lambda combos, i, j: {(c.names[i], c.names[j]) for c in combos}  # noqa: E731
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert pairs(seen_combos(), i, j) == pairs(all_combos(), i, j)


def test_no_caption_of_the_world_is_truncated():
    """Every word of the language is one token, and the longest caption (in words) fits with BOS and EOS:
    so no caption is truncated; a sample of real captions is checked end to end."""
    tok = build_world_tokenizer()
    for word in vocabulary():
        assert len(tok(word).input_ids) == 3, word
    texts = [text for combo in all_combos() for text in caption_variants(combo)]
    assert len(texts) > 10_000
    assert max(len(tokenize_words(t)) for t in texts) + 2 <= WORLD_TEXT_MAX_LENGTH
    for text in texts[::41]:
        ids = tok(text, truncation=False).input_ids
        assert len(ids) == len(tokenize_words(text)) + 2
        assert tok.decode(ids, skip_special_tokens=True).replace(" ,", ",").replace(" :", ":") == text


def test_the_tiny_byte_level_tokenizer_did_truncate():
    """The defect this tokenizer fixes: the random teachers' byte-level tokenizer cuts a caption."""
    from mcm.teachers.tiny import byte_level_tokenizer

    tok = byte_level_tokenizer()
    ids = tok("a red circle moving left", truncation=True, max_length=tok.model_max_length).input_ids
    assert tok.decode(ids, skip_special_tokens=True).replace(" ", "") != "aredcirclemovingleft"


@pytest.mark.parametrize("name", TRAINING_SETS)
def test_held_out_combinations_appear_in_no_training_set(name):
    combos = [item(WORLD, name, i).combo for i in range(1000)]
    assert not any(is_held_out(c) for c in combos)
    assert len(set(combos)) == 48  # every seen combination is drawn


def test_text_encoder_captions_avoid_held_out_combinations():
    for step in range(20):
        texts, _ = caption_batch(0, step, 128, 0.05)
        assert not any(is_held_out(parse_caption(t)) for t in texts if t)


def test_prompt_sets_hold_seen_and_held_out_combinations():
    assert all(is_held_out(it.combo) for it in items(WORLD, "zero_shot", 64))
    assert not any(is_held_out(it.combo) for it in items(WORLD, "seen", 64))
    assert len({it.combo for it in items(WORLD, "zero_shot", 64)}) == 16


@pytest.mark.parametrize("look", ["clean", "degraded", "styled"])
def test_captions_match_pixels_by_a_direct_check(look):
    """The caption names the object's colour and its centroid's motion, frame by frame."""
    arr, its = clips(WORLD, "networks", 96, look=look)
    for clip, it in zip(arr.astype(np.float32) / 255, its):
        assert parse_caption(it.caption) == it.combo
        alpha = render.object_alpha(it.combo, it.params, WORLD.num_frames, WORLD.size)
        ys, xs = np.mgrid[: WORLD.size, : WORLD.size]
        cx = (alpha * xs).sum((1, 2)) / alpha.sum((1, 2))
        cy = (alpha * ys).sum((1, 2)) / alpha.sum((1, 2))
        step = np.stack([np.diff(cx), np.diff(cy)], 1)
        expected = np.asarray(DIRECTION_VECTORS[DIRECTIONS[it.combo.direction]])
        assert (step @ expected > 1.0).all()  # moves > 1 px per frame the captioned way, every frame
        inside = alpha[0] > 0.99
        if look != "styled":  # the styled rendering keeps the fill colour; its outline darkens the rim only
            colour = clip[0][inside].mean(0)
            dist = [np.linalg.norm(colour - np.asarray(COLOUR_RGB[c])) for c in COLOURS]
            if look == "clean":
                assert int(np.argmin(dist)) == it.combo.colour


def test_degraded_clips_carry_the_watermark_and_are_blurred():
    clean, _ = clips(WORLD, "networks", 16, look="clean")
    bad, _ = clips(WORLD, "networks", 16, look="degraded")
    mask = render.watermark_mask(WORLD.size) > 0
    assert bad[..., mask, :].mean() > clean[..., mask, :].mean() + 60
    grad = lambda a: np.abs(np.diff(a.astype(np.float32).mean(-1), axis=-1)).max(-1).mean()  # noqa: E731
    assert grad(bad[..., :20, :, :]) < 0.7 * grad(clean[..., :20, :, :])


def test_world_is_a_function_of_its_seed():
    a, _ = clips(WORLD, "videos", 4)
    b, _ = clips(WORLD, "videos", 4)
    c, _ = clips(WorldConfig(seed=1), "videos", 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_written_world_is_read_by_data_preparation(tmp_path):
    from mcm.data.images import ImageFilterConfig, filter_images
    from mcm.data.ingest import VideoIngestConfig, ingest_videos
    from mcm.world.write import write_world

    cfg = WorldConfig(num_videos=12, num_images=20, num_styled=4, prompts_per_set=4)
    counts = write_world(cfg, tmp_path / "w")
    assert counts == {"videos": 12, "images": 20, "styled": 4, "seen": 4, "zero_shot": 4}
    videos = ingest_videos(VideoIngestConfig(input=str(tmp_path / "w/videos.csv"), root=str(tmp_path / "w"),
                                             output=str(tmp_path / "pv"), num_frames=8, height=32, width=32))
    assert videos.num_written == 12 and not videos.skipped
    images = filter_images(ImageFilterConfig(input=str(tmp_path / "w/images.csv"), root=str(tmp_path / "w"),
                                             output=str(tmp_path / "pi"), min_size=32))
    low = sum(it.aesthetic < 6 for it in items(cfg, "images", 20))
    assert low > 0 and images.filtered == {"low_aesthetic": low} and images.num_written == 20 - low
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "w").rglob("*.mp4")}
    write_world(cfg, tmp_path / "w")  # a rerun keeps what exists
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "w").rglob("*.mp4")} == before
