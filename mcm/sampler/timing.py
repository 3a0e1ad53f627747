"""Timing of the denoising loops: the teacher's guided baseline against the student's few steps.

Shared by ``bench/sampling.py`` and the run overview of ``make pipeline-run`` (``mcm report``). The student is
timed as it is served: its LoRA merged into the UNet (:func:`mcm.student.lora.merge_lora`), so one student step
is one plain UNet forward. Every callable runs once untimed (warm-up); repeats run round-robin, so that load
from other processes hits every row alike, and the minimum is kept.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch


def time_round_robin(
    fns: dict[str, Callable[[], object]], rounds: dict[str, int], inner: dict[str, int] | None = None
) -> dict[str, float]:
    """Minimum time of each callable: ``k`` takes part in the first ``rounds[k]`` rounds, ``inner[k]`` calls each."""
    inner = inner or {}
    best = {k: float("inf") for k in fns}
    for r in range(max(rounds.values())):
        for k, fn in fns.items():
            if r >= rounds[k]:
                continue
            for _ in range(inner.get(k, 1)):
                t0 = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - t0)
    return best


def denoising_loop_seconds(generators: dict[str, Any], prompt: str, seed: int, rounds: int = 3) -> dict[str, float]:
    """Minimum seconds of ``generator.latents([prompt], [seed])`` (text encoding + the denoising loop, no decode)
    per named :class:`mcm.sampler.api.VideoGenerator`, after one warm-up call each."""
    calls = {name: (lambda g=g: g.latents([prompt], [seed])) for name, g in generators.items()}
    with torch.inference_mode():
        for fn in calls.values():
            fn()
        return time_round_robin(calls, {name: rounds for name in calls})
