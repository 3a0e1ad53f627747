"""The held-out report of the evaluation networks (``evaluate_eval_networks``), its summary, and their sizes.

The Fréchet distances come from :mod:`mcm.utils.frechet` (the world never imports ``mcm.eval``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from mcm.utils.frechet import frechet_distance_from_features
from mcm.world import render
from mcm.world.evalnets.config import EVAL_LOOKS, EVAL_SETS, FLAG_THRESHOLD, REQUIRED_LOOKS
from mcm.world.evalnets.networks import EvalNetworks, num_parameters
from mcm.world.sets import WorldConfig, clips, items
from mcm.world.spec import ATTRIBUTES, DIRECTIONS, SHAPES, Combo


def network_sizes(nets: EvalNetworks) -> dict:
    """Parameters, and bytes of the saved tensors (parameters and BatchNorm statistics, heads included), of
    each network, and the total bytes."""
    out: dict = {}
    for name, module in nets.modules.items():
        state = module.state_dict().values()
        out[name] = {"parameters": num_parameters(module),
                     "bytes": sum(t.numel() * t.element_size() for t in state)}
    out["total_bytes"] = sum(v["bytes"] for v in out.values())
    return out


def _to_videos(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) -> float (N, F, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 1, 4, 2, 3).float().div_(255.0)


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=1) == target


def _attribute_report(logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    hits = [_accuracy(logits[a], labels[:, k]) for k, a in enumerate(ATTRIBUTES)]
    out = {a: float(h.float().mean()) for a, h in zip(ATTRIBUTES, hits)}
    out["all"] = float(torch.stack(hits).all(dim=0).float().mean())
    return out


def _frechet(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(frechet_distance_from_features(x, y))


def _frames_of(videos: torch.Tensor) -> torch.Tensor:
    return videos.flatten(0, 1)


def evaluate_eval_networks(nets: EvalNetworks, world: WorldConfig, n: int = 256) -> dict:
    """Held-out report on fresh items (none is in the ``networks`` set):

    ``attributes[set][look]``: shape/colour/direction/all accuracy of the classifier on ``n`` clips of the
    ``seen`` and ``zero_shot`` sets (the latter: the held-out combinations) rendered degraded (V-like),
    clean (M-like) and styled; ``attributes_min``: the lowest of those numbers over the degraded and clean
    looks (the >= 0.97 requirement). ``watermark``: share of frames flagged (p > 0.5) among V's frames (the
    ``videos`` set as stored), M's clean rows and M's degraded rows (``images`` set), styled frames.
    ``style``: share flagged among styled frames, M's rows and V's frames. ``fvd``/``frame``: the feature
    networks' own heads on held-out clips, and Fréchet distances between two disjoint clean samples vs.
    clean and degraded / styled / frame-shuffled ones (the distance must grow with the change).
    """
    out: dict = {"n": n, "attributes": {}, "fvd": {}, "frame": {}}
    videos: dict[tuple[str, str], torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    for set_name in EVAL_SETS:
        out["attributes"][set_name] = {}
        for look in EVAL_LOOKS:
            arr, its = clips(world, set_name, n, look=look)
            v = _to_videos(arr)
            videos[set_name, look] = v
            labels[set_name] = torch.tensor([[it.combo.shape, it.combo.colour, it.combo.direction] for it in its])
            out["attributes"][set_name][look] = _attribute_report(nets.attribute_logits(v), labels[set_name])
    out["attributes_min"] = min(r[k] for s in EVAL_SETS for look in REQUIRED_LOOKS
                                for r in [out["attributes"][s][look]] for k in (*ATTRIBUTES, "all"))

    # V as stored (degraded with the watermark), M's rows (clean or degraded), the styled set.
    v_frames = _frames_of(_to_videos(clips(world, "videos", n)[0]))
    m_items = items(world, "images", n)
    m_frames = torch.stack([torch.from_numpy(render.to_uint8(it.pixels(world))) for it in m_items])
    m_frames = m_frames.permute(0, 3, 1, 2).float().div(255.0)
    m_clean = torch.tensor([it.degradation is None for it in m_items])
    styled_items = items(world, "styled", n)
    styled_frames = torch.stack([torch.from_numpy(render.to_uint8(it.pixels(world))) for it in styled_items])
    styled_frames = styled_frames.permute(0, 3, 1, 2).float().div(255.0)

    def flagged(p: torch.Tensor) -> float:
        return float((p > FLAG_THRESHOLD).float().mean()) if p.numel() else float("nan")

    wm_m = nets.watermark_prob(m_frames)
    out["watermark"] = {
        "v_frames_flagged": flagged(nets.watermark_prob(v_frames)),
        "m_clean_flagged": flagged(wm_m[m_clean]),
        "m_degraded_flagged": flagged(wm_m[~m_clean]),
        "styled_flagged": flagged(nets.watermark_prob(styled_frames)),
        "clean_clip_frames_flagged": flagged(nets.watermark_prob(_frames_of(videos["zero_shot", "clean"]))),
        "counts": {"v": int(v_frames.shape[0]), "m_clean": int(m_clean.sum()), "m_degraded": int((~m_clean).sum())},
    }
    st_m = nets.style_prob(m_frames)
    out["style"] = {
        "styled_flagged": flagged(nets.style_prob(styled_frames)),
        "m_flagged": flagged(st_m),
        "v_frames_flagged": flagged(nets.style_prob(v_frames)),
    }

    # Feature networks: own heads on held-out clips, and Fréchet distances (first half vs second half).
    fvd = nets.modules["fvd"]
    for set_name in EVAL_SETS:
        for look in ("degraded", "clean"):
            with torch.no_grad():
                heads = fvd(nets._videos(videos[set_name, look]))
            out["fvd"][f"{set_name}/{look}"] = _attribute_report({a: heads[a].cpu() for a in ATTRIBUTES},
                                                                  labels[set_name])
    frame_net = nets.modules["frame"]
    for set_name in EVAL_SETS:
        for look in ("degraded", "clean"):
            with torch.no_grad():
                heads = frame_net(nets._frames(_frames_of(videos[set_name, look])))
            per_frame = labels[set_name].repeat_interleave(world.num_frames, dim=0)
            out["frame"][f"{set_name}/{look}"] = {
                a: float(_accuracy(heads[a].cpu(), per_frame[:, k]).float().mean())
                for k, a in enumerate(ATTRIBUTES[:2])}

    # Fréchet distances from the first half of the clean seen clips to: the second half (the noise floor),
    # zero-shot clips (same marginals, other joint), and the second half degraded / styled / with frames
    # shuffled / frozen on its first frame / every object a circle / every object moving right (same
    # colours, sizes, speeds, backgrounds).
    half = n // 2
    seen_clean, seen_deg = videos["seen", "clean"], videos["seen", "degraded"]
    second = items(world, "seen", n)[half:]
    g = torch.Generator().manual_seed(0)
    others = {
        "clean_b": seen_clean[half:], "zero_shot": videos["zero_shot", "clean"][half:], "degraded": seen_deg[half:],
        "styled": videos["seen", "styled"][half:],
        "shuffled": seen_clean[half:, torch.randperm(seen_clean.shape[1], generator=g)],
        "frozen": seen_clean[half:, :1].expand_as(seen_clean[half:]),
        "circles": _rerendered(world, second, shape=SHAPES.index("circle")),
        "rightwards": _rerendered(world, second, direction=DIRECTIONS.index("right")),
    }
    ref = nets.fvd_features(seen_clean[:half])
    out["fvd"]["frechet"] = {k: _frechet(ref, nets.fvd_features(v)) for k, v in others.items()}
    ref = nets.frame_features(_frames_of(seen_clean[:half]))
    out["frame"]["frechet"] = {k: _frechet(ref, nets.frame_features(_frames_of(others[k])))
                               for k in ("clean_b", "degraded", "styled", "circles")}
    out["frame"]["frechet"]["m_clean"] = _frechet(ref, nets.frame_features(m_frames[m_clean]))
    return out


def _rerendered(world: WorldConfig, its: list, shape: Optional[int] = None,
                direction: Optional[int] = None) -> torch.Tensor:
    """Clean clips of ``its`` with the shape and/or direction replaced (same size, speed, colour, start)."""
    out = []
    for it in its:
        combo = Combo(it.combo.shape if shape is None else shape, it.combo.colour,
                      it.combo.direction if direction is None else direction)
        out.append(render.to_uint8(render.render_clean(combo, it.params, world.num_frames, world.size)))
    return _to_videos(np.stack(out))


def summary(report: dict) -> dict:
    """The headline numbers of an ``evaluate_eval_networks`` report."""
    att = report["attributes"]
    return {
        "attributes_min": report["attributes_min"],
        **{f"all/{s}/{look}": att[s][look]["all"] for s in EVAL_SETS for look in EVAL_LOOKS},
        "watermark_v": report["watermark"]["v_frames_flagged"],
        "watermark_m_clean": report["watermark"]["m_clean_flagged"],
        "style_styled": report["style"]["styled_flagged"], "style_m": report["style"]["m_flagged"],
    }
