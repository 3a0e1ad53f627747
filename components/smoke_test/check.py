"""The served model's smoke test: one request through the inference service's protocol (tritonclient over HTTP),
and checks that what came back is a video of the exported shape with content (not a constant, not one repeated
frame). Without a URL (kfp.local), a Triton server is started on the published repository first."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: A frame whose pixels all lie within this many uint8 levels counts as blank; two frames closer than this (mean
#: absolute difference) count as the same frame.
MIN_PIXEL_STD = 1.0
MIN_FRAME_CHANGE = 0.1


class SmokeTestFailed(RuntimeError):
    """The served model answered, but not with a usable video; or it never became ready."""


def check_video(video: np.ndarray, frames: Optional[int] = None, size: Optional[int] = None) -> dict[str, float]:
    """Raise :class:`SmokeTestFailed` naming what is wrong with ``video`` (F, H, W, 3) uint8; else its stats."""
    if video.ndim != 4 or video.shape[-1] != 3:
        raise SmokeTestFailed(f"expected a video (F, H, W, 3), got shape {tuple(video.shape)}")
    if video.dtype != np.uint8:
        raise SmokeTestFailed(f"expected uint8 pixels, got {video.dtype}")
    if frames is not None and video.shape[0] != frames:
        raise SmokeTestFailed(f"expected {frames} frames, got {video.shape[0]}")
    if size is not None and video.shape[1:3] != (size, size):
        raise SmokeTestFailed(f"expected {size}x{size} frames, got {video.shape[2]}x{video.shape[1]}")
    std = float(video.astype(np.float32).std())
    if std < MIN_PIXEL_STD:
        raise SmokeTestFailed(f"the video is blank: pixel std {std:.3f} < {MIN_PIXEL_STD}")
    change = float(np.abs(np.diff(video.astype(np.float32), axis=0)).mean()) if video.shape[0] > 1 else 0.0
    if video.shape[0] > 1 and change < MIN_FRAME_CHANGE:
        raise SmokeTestFailed(f"every frame is the same: mean frame change {change:.4f} < {MIN_FRAME_CHANGE}")
    return {"frames": float(video.shape[0]), "height": float(video.shape[1]), "width": float(video.shape[2]),
            "pixel_std": std, "frame_change": change}


def wait_model_ready(url: str, model: str, timeout_s: float) -> None:
    """Poll ``/v2/models/MODEL/ready`` until 200 (the service may still be loading the new repository)."""
    deadline = time.time() + timeout_s
    last = ""
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{url}/v2/models/{model}/ready", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError as err:
            last = str(err)
        time.sleep(1.0)
    raise SmokeTestFailed(f"model {model!r} at {url} not ready after {timeout_s:.0f} s ({last})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_shape(repository: str) -> tuple[Optional[int], Optional[int]]:
    """(frames, size) the published student generates, from the repository's parts.json when present."""
    for parts in Path(repository).rglob("parts.json"):
        info = json.loads(parts.read_text())
        return info.get("frames"), info.get("height")
    return None, None


def smoke(config: dict[str, Any], url: str = "", repository: str = "", serve_venv: str = "",
          timeout_s: float = 300.0) -> dict[str, float]:
    """One request to ``url`` (or to a local server started on ``repository``); the checked video's stats."""
    from components.common import restore_ints
    from mcm.serve.client import generate

    config = restore_ints(config)
    model = config.get("model", "student")
    frames, size = expected_shape(repository) if repository else (None, None)
    server = None
    try:
        if not url:
            from mcm.serve.server import start_server

            venv = serve_venv or os.environ.get("MCM_SERVE_VENV", ".venv-serve")
            if not Path(venv, "bin", "python").exists():
                raise SmokeTestFailed(f"no serving environment at {venv} (make serve-venv, or set MCM_SERVE_VENV)")
            port = _free_port()
            server = start_server(repository, venv=venv, http_port=port, grpc_port=_free_port(),
                                  metrics_port=_free_port(), log_path=Path(repository).parent / "tritonserver.log")
            server.wait_ready(timeout_s)
            url = server.url
        wait_model_ready(url, model, timeout_s)
        start = time.perf_counter()
        video = generate(url, config.get("prompt", "a red circle moving left"), steps=int(config.get("steps", 4)),
                         seed=int(config.get("seed", 0)), model=model, timeout_s=timeout_s)
        latency = time.perf_counter() - start
    finally:
        if server is not None:
            server.stop()
    return {**check_video(np.asarray(video), frames, size), "latency_s": latency}
