"""A bounded load test of a served student (loopback): concurrent clients with mixed step counts and malformed
requests mixed in, then a burst beyond the queue. Used by tests/serve and bench/serve.py.

Outcomes are classified per request: ``ok`` (a video of the right shape), ``rejected`` (an invalid request
answered with an error naming it), ``unavailable`` (the queue was full), ``failed`` (anything else: a valid,
admitted request that did not get its video, which must never happen).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: Malformed requests mixed into the load: (request, the text its error must contain).
MALFORMED = (
    ({"prompt": "", "steps": 4}, "PROMPT is empty"),
    ({"prompt": "a red circle", "steps": 0}, "STEPS=0"),
    ({"prompt": "a red circle", "steps": 12}, "STEPS=12"),
    ({"prompt": "x" * 1000, "steps": 2}, "characters; at most"),
)


@dataclass
class LoadResult:
    outcomes: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)   # of the ok requests
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    unclear_rejections: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.outcomes.get("ok", 0) / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")


def _classify(message: str) -> str:
    text = message.lower()
    if "queue" in text or "unavailable" in text:
        return "unavailable"
    if "invalid request" in text:
        return "rejected"
    return "failed"


def run_load(url: str, clients: int = 8, requests_per_client: int = 25, steps: tuple[int, ...] = (1, 2, 4, 8),
             malformed_every: int = 5, frame_shape: Optional[tuple[int, ...]] = None, model: str = "student",
             seed: int = 0) -> LoadResult:
    """``clients`` threads each sending ``requests_per_client`` requests back to back; every
    ``malformed_every``-th request of a client is malformed (0: none)."""
    import tritonclient.http as http

    from mcm.serve.client import GenerationError, generate

    result = LoadResult()

    def client_loop(c: int) -> list[tuple[str, float, str]]:
        conn = http.InferenceServerClient(url=url, connection_timeout=300, network_timeout=300)
        rng = np.random.default_rng(seed + c)
        out = []
        for r in range(requests_per_client):
            bad = malformed_every and (r + 1) % malformed_every == 0
            request, expect = (MALFORMED[(c + r) % len(MALFORMED)] if bad
                               else ({"prompt": f"a red circle moving left {c}-{r}", "steps": int(rng.choice(steps))}, ""))
            t0 = time.perf_counter()
            try:
                video = generate(url, request["prompt"], steps=request["steps"], seed=c * 1000 + r, model=model,
                                 client=conn)
                shape_ok = frame_shape is None or tuple(video.shape) == tuple(frame_shape)
                kind = "ok" if (shape_ok and not bad) else "failed"
                out.append((kind, time.perf_counter() - t0, "" if kind == "ok" else f"unexpected video {video.shape}"))
            except GenerationError as err:
                kind = _classify(str(err))
                if bad and kind == "rejected" and expect not in str(err):
                    kind = "unclear"
                if not bad and kind == "rejected":
                    kind = "failed"
                out.append((kind, time.perf_counter() - t0, str(err)))
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        per_client = list(pool.map(client_loop, range(clients)))
    result.wall_s = time.perf_counter() - t0
    for kind, seconds, message in (o for outs in per_client for o in outs):
        result.outcomes[kind] = result.outcomes.get(kind, 0) + 1
        if kind == "ok":
            result.latencies_s.append(seconds)
        elif kind == "failed":
            result.failures.append(message)
        elif kind == "unclear":
            result.unclear_rejections.append(message)
    return result


def burst(url: str, count: int = 48, workers: int = 24, steps: int = 8, model: str = "student") -> dict[str, int]:
    """``count`` requests at once from ``workers`` threads: how many were served, refused as unavailable, failed."""
    import tritonclient.http as http

    from mcm.serve.client import GenerationError, generate

    def one(i: int) -> str:
        conn = http.InferenceServerClient(url=url, concurrency=1)
        try:
            generate(url, "a blue square moving up", steps=steps, seed=10_000 + i, model=model, client=conn)
            return "ok"
        except GenerationError as err:
            return _classify(str(err))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        kinds = list(pool.map(one, range(count)))
    return {k: kinds.count(k) for k in set(kinds)}
