"""The small world's evaluation protocol (``EvalConfig.protocol = "toy"``), beside the real one.

The world (mcm.world) has exact ground truth: every caption names a shape, a colour and a direction, and
its frozen evaluation networks (mcm.world.evalnets: attribute classifiers, FVD/frame features, watermark
and style detectors) stand in for I3D, CLIP and Inception. Metrics per method spec (``TOY_METRICS``,
key -> the one-line meaning the report prints; percentages are of generated videos or frames):

* ``fvd_toy`` Fréchet distance of ``fvd_features`` of generated videos vs the prompt set's clean
  reference clips (cached like the real reference statistics).
* ``prompt_acc_shape`` / ``_colour`` / ``_direction`` / ``prompt_acc`` (all three): argmax of
  ``attribute_logits`` equals the prompt's attribute; the prompt set's shape/colour/direction columns, or
  ``spec.parse_caption``, give the truth. Per-video 0/1 lists and 95% Wilson intervals are kept.
* ``fid_toy`` Fréchet distance of ``frame_features`` of every generated frame vs M's images
  (aesthetic >= ``min_aesthetic``).
* ``watermark_rate`` / ``style_rate``: frames whose detector probability exceeds the threshold.
* ``sharpness``: :func:`sharpness`, mean over frames of a high quantile of the chroma Sobel gradient.
* ``motion_score``: videos whose object centroid moves the way the caption says (:func:`motion_direction`).
* ``collapsed_rate``: videos near-constant (pixel std below a limit) or near-black (mean below a limit).

Pixel functions take one video (F, 3, H, W) (or a world clip (F, H, W, 3)), float in [0, 1] or uint8.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mcm.eval.config import EvalConfig, PromptSetConfig, ToyMetricsConfig
from mcm.eval.frechet import FeatureStats, frechet_distance_from_stats
from mcm.eval.prompts import PromptSet, iter_reference_videos
from mcm.world.spec import ATTRIBUTES, COLOURS, DIRECTIONS, SHAPES, Combo, parse_caption

#: Metric key -> what the number means (printed by the report next to the metric).
TOY_METRICS = {
    "fvd_toy": "Fréchet distance of the world's video features, generated vs the prompt set's clean clips "
    "(lower: closer to the true clip distribution).",
    "prompt_acc": "% of videos whose shape, colour and direction the frozen classifiers all read as the "
    "prompt's (the world's CLIPSIM).",
    "prompt_acc_shape": "% of videos classified as the prompt's shape.",
    "prompt_acc_colour": "% of videos classified as the prompt's colour.",
    "prompt_acc_direction": "% of videos classified as moving in the prompt's direction.",
    "fid_toy": "Fréchet distance of the world's frame features, every generated frame vs the clean image set M "
    "(lower: frames look like M's).",
    "watermark_rate": "% of generated frames the watermark detector flags (V's watermark leaking in).",
    "sharpness": "Mean over frames of the high quantile of the colour-edge (chroma Sobel) strength (higher: "
    "crisper; V's blur and low contrast lower it).",
    "style_rate": "% of generated frames the style detector flags as the styled rendering.",
    "motion_score": "% of videos whose object centroid moves in the caption's direction (pixel tracking, no "
    "network).",
    "collapsed_rate": "% of videos that are near-constant or near-black (collapsed samples).",
}
#: Per-video 0/1 outcomes kept in the result (Wilson intervals are given for their rates).
VIDEO_OUTCOMES = ("prompt_acc_shape", "prompt_acc_colour", "prompt_acc_direction", "prompt_acc",
                  "motion_score", "collapsed_rate")
#: Frame width the pixel tolerances are given for (they scale with the width).
REFERENCE_WIDTH = 32
#: Normal quantile of the 95% intervals.
Z95 = 1.959963984540054
_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


# ----------------------------------------------------------------------------------------- pixel statistics
def _channels_last(video: Any) -> np.ndarray:
    """(F, 3, H, W) or (F, H, W, 3), torch or numpy, float [0, 1] or uint8 -> float32 (F, H, W, 3)."""
    arr = video.detach().cpu().numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
    if arr.ndim != 4 or 3 not in (arr.shape[1], arr.shape[-1]):
        raise ValueError(f"expected one video (F, 3, H, W) or (F, H, W, 3), got shape {arr.shape}")
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    return np.moveaxis(arr, 1, -1) if arr.shape[1] == 3 else arr


def _frames_first(frames: Any) -> torch.Tensor:
    """(M, 3, H, W) float in [0, 1] from torch/numpy, float or uint8."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.asarray(frames))
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"frames must be (M, 3, H, W), got shape {tuple(x.shape)}")
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def frame_sharpness(frames: Any, quantile: float = 0.99) -> torch.Tensor:
    """(M,) per-frame edge strength: the ``quantile`` of the Sobel gradient magnitude of the opponent chroma
    channels (R - G, (R + G) / 2 - B) of (M, 3, H, W) frames in [0, 1].

    Chroma rather than grey: the world's objects are saturated colours on a grey background, while V's
    watermark is achromatic (sharp and bright, it would dominate a grey statistic; watermark_rate measures it).
    Blur and V's contrast loss lower the object's colour edges; sensor noise (sigma 0.03) stays far below them.
    """
    x = _frames_first(frames)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    chroma = F.pad(torch.cat([r - g, 0.5 * (r + g) - b], 1), (1, 1, 1, 1), mode="replicate")
    kx = _SOBEL.to(x.device, x.dtype).view(1, 1, 3, 3).repeat(2, 1, 1, 1)
    gx = F.conv2d(chroma, kx, groups=2)
    gy = F.conv2d(chroma, kx.transpose(2, 3), groups=2)
    magnitude = (gx * gx + gy * gy).sum(1).sqrt().flatten(1)
    return torch.quantile(magnitude, quantile, dim=1)


def sharpness(frames: Any, quantile: float = 0.99) -> float:
    """Mean over (M, 3, H, W) frames of :func:`frame_sharpness` (usable on V, M and generated frames)."""
    return float(frame_sharpness(frames, quantile).mean())


def centroid_track(video: Any, mask_threshold: float = 0.2) -> np.ndarray:
    """(F, 2) centroid (x, y) in pixels of the moving object per frame; NaN where a frame shows none.

    Background = the per-channel median colour of the whole video; object = pixels farther than
    ``mask_threshold`` (RGB distance) from it; pixels that are object in *every* frame are static content
    (a watermark, a logo, the overlap of a slow object with itself) and are dropped, which keeps the leading
    and trailing parts of a moving object, so the centroid still moves with it.
    """
    return _track(_channels_last(video), mask_threshold)


def _track(v: np.ndarray, mask_threshold: float) -> np.ndarray:
    background = np.median(v.reshape(-1, 3), axis=0)
    mask = np.sqrt(((v - background) ** 2).sum(-1)) > mask_threshold
    mask &= ~mask.all(axis=0, keepdims=True)
    h, w = mask.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    mass = mask.sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        track = np.stack([(mask * xs).sum(axis=(1, 2)) / mass, (mask * ys).sum(axis=(1, 2)) / mass], axis=1)
    track[mass == 0] = np.nan
    return track


def mean_displacement(track: np.ndarray) -> Optional[np.ndarray]:
    """Mean per-frame displacement (dx, dy) between the first and last frames with a centroid, or None."""
    valid = np.flatnonzero(np.isfinite(track).all(axis=1))
    if len(valid) < 2:
        return None
    return (track[valid[-1]] - track[valid[0]]) / float(valid[-1] - valid[0])


def motion_direction(video: Any, tolerance: float = 0.5, mask_threshold: float = 0.2) -> Optional[str]:
    """The direction ("left", "right", "up", "down") the object moves in, or None when it does not move.

    The mean centroid displacement per frame (:func:`centroid_track`) decides: its dominant axis and sign,
    provided its magnitude on that axis is at least ``tolerance`` pixels/frame at a 32-pixel-wide frame
    (scaled with the width). Image y grows downwards, so negative dy is "up".
    """
    v = _channels_last(video)
    d = mean_displacement(_track(v, mask_threshold))
    if d is None:
        return None
    axis = int(np.argmax(np.abs(d)))
    if abs(d[axis]) < tolerance * v.shape[2] / REFERENCE_WIDTH:
        return None
    return (("left", "right"), ("up", "down"))[axis][int(d[axis] > 0)]


def is_collapsed(video: Any, max_std: float = 0.02, min_mean: float = 0.04) -> bool:
    """True when a video is near-constant (pixel std < ``max_std``) or near-black (mean < ``min_mean``)."""
    v = _channels_last(video)
    return bool(v.std() < max_std or v.mean() < min_mean)


# ------------------------------------------------------------------------------------- accuracies, intervals
def attribute_correct(logits: dict[str, torch.Tensor], targets: Sequence[Combo]) -> dict[str, list[int]]:
    """Per-video 0/1: argmax of each attribute's logits (N, 4) equals the target; "all" = all three right."""
    out: dict[str, list[int]] = {}
    for attr in ATTRIBUTES:
        if attr not in logits:
            raise ValueError(f"attribute_logits must return keys {ATTRIBUTES}, missing {attr!r}")
        pred = logits[attr].argmax(dim=-1).cpu().tolist()
        if len(pred) != len(targets):
            raise ValueError(f"attribute_logits[{attr!r}] has {len(pred)} rows for {len(targets)} videos")
        out[attr] = [int(p == getattr(t, attr)) for p, t in zip(pred, targets)]
    out["all"] = [int(all(out[a][k] for a in ATTRIBUTES)) for k in range(len(targets))]
    return out


def prompt_accuracy(logits: dict[str, torch.Tensor], targets: Sequence[Combo]) -> dict[str, float]:
    """prompt_acc_<attribute> and prompt_acc (all three) in % for one batch of logits."""
    ok = attribute_correct(logits, targets)
    n = max(len(targets), 1)
    out = {f"prompt_acc_{a}": 100.0 * sum(ok[a]) / n for a in ATTRIBUTES}
    out["prompt_acc"] = 100.0 * sum(ok["all"]) / n
    return out


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion, in % ((0, 100) when n = 0)."""
    if n <= 0:
        return 0.0, 100.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


# --------------------------------------------------------------------------------------------- ground truth
def prompt_targets(cfg: PromptSetConfig, prompt_set: PromptSet) -> list[Combo]:
    """The attributes of every prompt: the CSV's shape/colour/direction columns, else ``parse_caption``."""
    rows: list[Optional[dict[str, str]]] = [None] * len(prompt_set)
    if cfg.format == "csv":
        with open(cfg.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if all(a in (reader.fieldnames or []) for a in ATTRIBUTES):
                kept = [r for r in reader if (r.get(cfg.caption_column) or "").strip()]
                rows = kept[: len(prompt_set)]
    out = []
    for prompt, row in zip(prompt_set.prompts, rows):
        if row is None:
            out.append(parse_caption(prompt))
            continue
        try:
            out.append(Combo(SHAPES.index(row["shape"].strip()), COLOURS.index(row["colour"].strip()),
                             DIRECTIONS.index(row["direction"].strip())))
        except ValueError as err:
            raise ValueError(f"prompt {prompt!r}: attribute columns {row} are not world values") from err
    return out


def read_image_set(cfg: ToyMetricsConfig) -> list[Path]:
    """M's image files for fid_toy: a folder (every image, already prepared) or M's CSV filtered by aesthetic."""
    from mcm.eval.fid import IMAGE_SUFFIXES

    path = Path(cfg.images)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not path.is_file():
        raise ValueError(f"toy.images not found: {str(path)!r}")
    root = cfg.image_root or path.parent
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if cfg.image_column not in (reader.fieldnames or []):
            raise ValueError(f"toy.image_column {cfg.image_column!r} not in {str(path)!r} columns {reader.fieldnames}")
        for row in reader:
            score = (row.get(cfg.aesthetic_column) or "").strip()
            if cfg.min_aesthetic is not None and score and float(score) < cfg.min_aesthetic:
                continue
            p = Path(row[cfg.image_column].strip())
            out.append(p if p.is_absolute() else root / p)
    return out


def _load_image(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0


# ------------------------------------------------------------------------------------------------ the suite
def load_networks(cfg: ToyMetricsConfig, device: str = "cpu") -> tuple[Any, str]:
    """The frozen eval networks and an id of them (part of the reference-cache key)."""
    from mcm.eval.reference_cache import file_fingerprint
    from mcm.world import evalnets

    if cfg.networks_seed is not None:
        nets = evalnets.build_eval_networks(cfg.networks_seed)
        if hasattr(nets, "to"):
            nets = nets.to(device) or nets
        return nets, f"random-init seed {cfg.networks_seed}"
    folder = Path(cfg.networks)
    if not folder.is_dir():
        raise ValueError(f"toy.networks: folder {str(folder)!r} not found (train or copy the world's eval networks, "
                         "or set toy.networks_seed for a random-init smoke run)")
    fingerprint = file_fingerprint(sorted(p for p in folder.rglob("*") if p.is_file()))
    return evalnets.load_eval_networks(folder, device=device), repr(fingerprint)


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class ToySuite:
    """The world's frozen eval networks (EvalNetworks interface); makes reference statistics and accumulators.

    ``networks_id`` names the networks in the reference-cache key (load_networks fingerprints the folder).
    """

    networks: Any
    device: str = "cpu"
    batch_size: int = 64
    networks_id: str = "injected"

    @classmethod
    def from_config(cls, cfg: EvalConfig) -> "ToySuite":
        nets, nid = load_networks(cfg.toy, cfg.device)
        return cls(nets, cfg.device, cfg.toy.batch_size, nid)

    @torch.inference_mode()
    def forward(self, fn: str, x: torch.Tensor) -> Any:
        """``networks.<fn>`` over ``batch_size`` chunks of x: inputs to the device, outputs float on the CPU."""
        outs = [getattr(self.networks, fn)(b.to(self.device)) for b in torch.split(x, self.batch_size)]
        if isinstance(outs[0], dict):
            return {k: torch.cat([o[k].detach().float().cpu() for o in outs]) for k in outs[0]}
        return torch.cat([o.detach().float().cpu() for o in outs])

    def reference_stats(self, cfg: EvalConfig, prompt_set: PromptSet, skipped: list[str]) -> dict[str, FeatureStats]:
        """fvd_toy (reference clips) and fid_toy (M) statistics: cached, else computed over ranks and cached.

        Cache files: ``<set>-fvd_toy-<hash>`` and ``<M's stem>-fid_toy-<hash>`` (M's shared by prompt sets).
        """
        from mcm.eval.ranks import barrier, dist_info
        from mcm.eval.reference_cache import file_fingerprint, reference_cache_path

        rank, world = dist_info()
        sources: dict[str, tuple[list[Path], int]] = {}
        if prompt_set.reference_videos:
            sources["fvd_toy"] = (prompt_set.reference_videos, int(self.networks.fvd_dim))
        if cfg.toy.images is not None:
            sources["fid_toy"] = (read_image_set(cfg.toy), int(self.networks.frame_dim))
        out: dict[str, FeatureStats] = {}
        for name, (files, dim) in sources.items():
            desc: dict[str, Any] = {"metric": name, "networks": self.networks_id, "files": file_fingerprint(files)}
            if name == "fid_toy":
                desc["filter"] = {"min_aesthetic": cfg.toy.min_aesthetic, "source": str(cfg.toy.images)}
                path = reference_cache_path(cfg, name, desc, Path(cfg.toy.images).stem)
            else:
                desc["set"] = prompt_set.name
                path = reference_cache_path(cfg, name, desc, prompt_set.name)
            if path.is_file():
                out[name] = FeatureStats.load(path)
                continue
            stats = FeatureStats(dim)
            mine = files[rank::world]
            for chunk in _batches(mine, self.batch_size):
                if name == "fvd_toy":
                    for batch in _same_shape(iter_reference_videos(chunk, None, skipped)):
                        stats.update(self.forward("fvd_features", batch))
                else:
                    for batch in _same_shape(_load_image(p) for p in chunk):
                        stats.update(self.forward("frame_features", batch))
            stats.all_reduce()
            if stats.n >= 2:
                out[name] = stats
                if rank == 0:
                    stats.save(path, desc)
        barrier()
        return out

    def accumulator(self, prompt_set: PromptSet, reference: dict[str, FeatureStats],
                    cfg: EvalConfig) -> "ToyAccumulator":
        """A method spec's running metrics; the truth per prompt comes from ``cfg.prompts`` (prompt_targets)."""
        return ToyAccumulator(self, prompt_targets(cfg.prompts, prompt_set), reference, cfg)


def _same_shape(items: Any) -> list[torch.Tensor]:
    """Stack consecutive equally shaped tensors (images (3, H, W) or videos (F, 3, H, W)) into batches."""
    groups: list[list[torch.Tensor]] = []
    for x in items:
        if groups and groups[-1][0].shape == x.shape:
            groups[-1].append(x)
        else:
            groups.append([x])
    return [torch.stack(g) for g in groups]


class ToyAccumulator:
    """One method spec's running toy metrics: ``update`` per generated batch, ``finish`` merges ranks."""

    def __init__(self, suite: ToySuite, targets: list[Combo], reference: dict[str, FeatureStats],
                 cfg: EvalConfig) -> None:
        self.suite, self.targets, self.reference, self.cfg = suite, targets, reference, cfg
        self.fvd = FeatureStats(int(suite.networks.fvd_dim))
        self.frames = FeatureStats(int(suite.networks.frame_dim))
        self.rows: list[tuple[int, ...]] = []  # (video index, *VIDEO_OUTCOMES)
        self.frame_sums = torch.zeros(4, dtype=torch.float64)  # frames, watermarked, styled, sharpness sum

    def update(self, indices: Sequence[int], prompts: Sequence[str], videos: torch.Tensor) -> None:
        """Add generated videos (N, F, 3, H, W) in [0, 1] of videos ``indices`` (prompt ``i mod len``)."""
        t, nets = self.cfg.toy, self.suite
        targets = [self.targets[i % len(self.targets)] for i in indices]
        ok = attribute_correct(nets.forward("attribute_logits", videos), targets)
        if "fvd_toy" in self.reference:
            self.fvd.update(nets.forward("fvd_features", videos))
        frames = videos.flatten(0, 1)
        if "fid_toy" in self.reference:
            self.frames.update(nets.forward("frame_features", frames))
        self.frame_sums += torch.tensor([
            frames.shape[0],
            float((nets.forward("watermark_prob", frames).reshape(-1) > t.watermark_threshold).sum()),
            float((nets.forward("style_prob", frames).reshape(-1) > t.style_threshold).sum()),
            float(frame_sharpness(frames, t.sharpness_quantile).double().sum()),
        ], dtype=torch.float64)
        for k, (i, video) in enumerate(zip(indices, videos)):
            moves = motion_direction(video, t.motion_tolerance, t.motion_mask_threshold)
            self.rows.append((int(i), ok["shape"][k], ok["colour"][k], ok["direction"][k], ok["all"][k],
                              int(moves == DIRECTIONS[targets[k].direction]),
                              int(is_collapsed(video, t.collapse_std, t.collapse_mean))))

    def finish(self) -> tuple[dict[str, Optional[float]], dict[str, Any]]:
        """(metrics, extra): the TOY_METRICS values and ``{"toy": per-video outcomes, intervals, counts}``."""
        rows = sorted(_gather(self.rows))
        sums = self.frame_sums.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
        n, n_frames = len(rows), int(sums[0])
        per_video = {key: [r[1 + j] for r in rows] for j, key in enumerate(VIDEO_OUTCOMES)}
        metrics: dict[str, Optional[float]] = {}
        for name, stats in (("fvd_toy", self.fvd), ("fid_toy", self.frames)):
            if name in self.reference:
                stats.all_reduce()
                metrics[name] = (frechet_distance_from_stats(stats, self.reference[name], self.cfg.frechet_method)
                                 if stats.n >= 2 else None)
        for key in VIDEO_OUTCOMES:
            metrics[key] = 100.0 * sum(per_video[key]) / n if n else None
        metrics["watermark_rate"] = 100.0 * float(sums[1]) / n_frames if n_frames else None
        metrics["style_rate"] = 100.0 * float(sums[2]) / n_frames if n_frames else None
        metrics["sharpness"] = float(sums[3]) / n_frames if n_frames else None
        extra = {
            "num_videos": n,
            "num_frames": n_frames,
            "video_indices": [r[0] for r in rows],
            "per_video": per_video,
            "intervals_95": {key: list(wilson_interval(sum(per_video[key]), n)) for key in VIDEO_OUTCOMES},
        }
        return metrics, {"toy": extra}


def _gather(rows: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Every rank's rows (all_gather_object when torch.distributed is initialised)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return list(rows)
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, list(rows))
    return [tuple(r) for part in parts for r in part]


def toy_protocol_statement(cfg: EvalConfig, suite: Any, reference: dict[str, FeatureStats]) -> dict[str, str]:
    """One sentence per toy metric stating the protocol choices behind its number."""
    t = cfg.toy
    count = {name: (str(reference[name].n) if name in reference else "none (metric skipped)")
             for name in ("fvd_toy", "fid_toy")}
    nets = f"random init, seed {t.networks_seed}" if t.networks_seed is not None else str(t.networks)
    m_rule = f"aesthetic >= {t.min_aesthetic}" if t.min_aesthetic is not None else "no aesthetic filter"
    return {
        "protocol": f"toy: the small world's frozen evaluation networks ({nets}), no I3D/CLIP/Inception.",
        "fvd_toy": f"fvd_features of whole generated videos vs the prompt set's reference clips ({count['fvd_toy']}).",
        "prompt_acc": "argmax of attribute_logits vs the prompt's shape/colour/direction (CSV columns, else "
        "parse_caption); per-video outcomes and 95% Wilson intervals in metrics.json.",
        "fid_toy": f"frame_features of every generated frame vs M ({t.images}, {m_rule}; {count['fid_toy']} images).",
        "watermark_rate": f"frames with watermark_prob > {t.watermark_threshold:g}.",
        "style_rate": f"frames with style_prob > {t.style_threshold:g}.",
        "sharpness": f"per frame the {t.sharpness_quantile:g} quantile of the Sobel gradient magnitude (kernel/8) of "
        "the opponent chroma channels (R-G, (R+G)/2-B), averaged over frames.",
        "motion_score": f"background = median colour, object = RGB distance > {t.motion_mask_threshold:g}, static "
        f"pixels dropped; pass when the mean centroid step's dominant axis/sign is the caption's and >= "
        f"{t.motion_tolerance:g} px/frame (at 32 px width).",
        "collapsed_rate": f"videos with pixel std < {t.collapse_std:g} or mean < {t.collapse_mean:g}.",
        "frechet": f"Fréchet distances in float64, matrix square root by {cfg.frechet_method}.",
    }
