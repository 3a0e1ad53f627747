"""Evaluation throughput: videos/s for generation and for each feature extractor at full size (CPU here).

    python bench/eval.py            # batch of 2 videos, 16 frames, 256x256
    python bench/eval.py --quick    # under a minute: 1 video, fewer repeats

For each extractor it times the whole evaluation path (frame selection, resizing, normalisation,
feature-statistics update) against a bare forward of the same network on the already-preprocessed batch.
GOAL (issue 5): preprocessing + bookkeeping at most 1.2x the bare forward.
Networks are random-initialised at full size (I3D, InceptionV3 from torch-fidelity, CLIP ViT-B/16).
"""

from __future__ import annotations

import argparse
import time

import torch

from mcm.eval.clipsim import CLIPSim
from mcm.eval.config import FIDConfig, FVDConfig, MotionConfig
from mcm.eval.fid import FIDFeatures, to_uint8
from mcm.eval.frechet import FeatureStats
from mcm.eval.fvd import FVDFeatures, preprocess_clip
from mcm.eval.i3d import InceptionI3d
from mcm.eval.motion import MotionFeatures

GOAL_RATIO = 1.2


def _time(fn, repeats: int) -> float:
    """Best of ``repeats`` timed calls after one warm-up (best-of filters out other processes' load)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _time_pair(full, bare, repeats: int) -> tuple[float, float]:
    """Best times of ``full`` and ``bare``, measured interleaved so both see the same machine load."""
    full(), bare()
    tf = tb = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        full()
        t1 = time.perf_counter()
        bare()
        tf, tb = min(tf, t1 - t0), min(tb, time.perf_counter() - t1)
    return tf, tb


def _inception():
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as FE
    from torchmetrics.image.fid import NoTrainInceptionV3

    orig = FE.__init__.__globals__["torch"].load
    FE.__init__.__globals__["torch"].load = lambda *a, **k: {}  # random weights: skip the weight file
    orig_lsd = FE.load_state_dict
    FE.load_state_dict = lambda self, *a, **k: None
    try:
        return NoTrainInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="random")
    finally:
        FE.__init__.__globals__["torch"].load = orig
        FE.load_state_dict = orig_lsd


def _clip():
    from transformers import CLIPConfig, CLIPModel

    cfg = CLIPConfig(
        text_config=dict(vocab_size=49408),
        vision_config=dict(image_size=224, patch_size=16, hidden_size=768, intermediate_size=3072,
                           num_hidden_layers=12, num_attention_heads=12),
        projection_dim=512,
    )
    with torch.device("meta"):  # skip transformers' slow weight init: random normal weights are enough here
        model = CLIPModel(cfg)
    model = model.to_empty(device="cpu")
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    for name, buf in model.named_buffers():
        if "position_ids" in name:
            buf.copy_(torch.arange(buf.shape[-1]).expand_as(buf))
    return model.eval()


class _Tokenizer:
    """Fixed-length dummy tokens: the benchmark times image features, text is one short forward."""

    def __call__(self, prompts, **kwargs):
        ids = torch.ones(len(prompts), 8, dtype=torch.long)
        ids[:, -1] = 49407
        from transformers import BatchEncoding

        return BatchEncoding({"input_ids": ids, "attention_mask": torch.ones_like(ids)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="under a minute")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=256, help="side of the generated videos")
    args = ap.parse_args()
    torch.manual_seed(0)
    n = 1 if args.quick else 2
    repeats = 2 if args.quick else 3
    videos = torch.rand(n, args.frames, 3, args.size, args.size)
    prompts = ["a bench prompt"] * n
    rows, goals = [], []

    def generator(prompts, seeds):  # a fake sampler: the cost of producing the tensor
        g = torch.Generator().manual_seed(seeds[0])
        return torch.rand(len(prompts), args.frames, 3, args.size, args.size, generator=g)

    t = _time(lambda: generator(prompts, list(range(n))), repeats)
    rows.append(("generation (fake)", n / t, float("nan"), float("nan")))

    with torch.inference_mode():
        # FVD: I3D
        fvd_cfg = FVDConfig(batch_size=n)
        fvd = FVDFeatures(InceptionI3d(), fvd_cfg)
        clips = torch.stack([preprocess_clip(v, fvd_cfg) for v in videos])
        stats = FeatureStats(400)
        full, bare = _time_pair(lambda: stats.update(fvd(videos)), lambda: fvd.network(clips), repeats)
        rows.append(("fvd (I3D)", n / full, n / bare, full / bare))

        # Motion FD: weight-free, no network to compare against
        motion = MotionFeatures(MotionConfig())
        t = _time(lambda: motion(videos), repeats)
        rows.append(("motion_fd (spectra)", n / t, float("nan"), float("nan")))

        # FID: InceptionV3 on frames (2 per video in quick mode)
        fid_cfg = FIDConfig(frames_per_video=2 if args.quick else None, batch_size=64)
        fid = FIDFeatures(_inception(), fid_cfg)
        frames = to_uint8(torch.stack(fid.sample_frames(videos)))
        stats = FeatureStats(2048)
        full, bare = _time_pair(lambda: stats.update(fid(videos)), lambda: fid.network(frames), repeats)
        rows.append((f"fid (InceptionV3, {frames.shape[0] // n} fr/video)", n / full, n / bare, full / bare))

        # CLIPSIM: ViT-B/16 on every frame (2 frames per video in quick mode)
        clip_videos = videos[:, :2] if args.quick else videos
        scorer = CLIPSim(_clip(), _Tokenizer(), batch_size=64)
        pixels = torch.cat([scorer.preprocess(v) for v in clip_videos])
        tokens = scorer.tokenizer(prompts)

        def bare_clip():
            scorer.model.get_image_features(pixel_values=pixels)
            scorer.model.get_text_features(**tokens)

        full, bare = _time_pair(lambda: scorer(clip_videos, prompts), bare_clip, repeats)
        rows.append((f"clipsim (ViT-B/16, {clip_videos.shape[1]} fr/video)", n / full, n / bare, full / bare))

    print(f"{'stage':42s} {'videos/s':>10s} {'bare fwd/s':>10s} {'ratio':>7s}")
    for name, full_rate, bare_rate, ratio in rows:
        print(f"{name:42s} {full_rate:10.3f} {bare_rate:10.3f} {ratio:7.3f}")
    for name, _, _, ratio in rows:
        if ratio == ratio:  # not NaN
            key = name.split()[0]
            goals.append(f"GOAL overhead_{key} {ratio:.3f} {GOAL_RATIO} {'PASS' if ratio <= GOAL_RATIO else 'MISS'}")
    worst = max(r[3] for r in rows if r[3] == r[3])
    print("\n".join(goals))
    print(f"GOAL eval_overhead_max {worst:.3f} {GOAL_RATIO} {'PASS' if worst <= GOAL_RATIO else 'MISS'}")


if __name__ == "__main__":
    main()
