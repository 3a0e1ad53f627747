"""A client of the served student on tritonclient (``mcm generate``), and the request it sends.

    PROMPT BYTES [1], STEPS INT32 [1], SEED INT64 [1], FRAMES INT32 [1] (optional)
    ->  VIDEO UINT8 [F, H, W, 3], and MP4 BYTES [1] (H.264) when requested
"""

from __future__ import annotations

from typing import Optional

import numpy as np

STUDENT_MODEL = "student"


class GenerationError(RuntimeError):
    """The server answered with an error (its message names the problem) or could not be reached."""


def request_inputs(prompt: str, steps: int, seed: int, frames: Optional[int] = None):
    import tritonclient.http as http

    values = [("PROMPT", np.array([[prompt.encode("utf-8")]], dtype=object), "BYTES"),
              ("STEPS", np.array([[steps]], dtype=np.int32), "INT32"),
              ("SEED", np.array([[seed]], dtype=np.int64), "INT64")]
    if frames is not None:
        values.append(("FRAMES", np.array([[frames]], dtype=np.int32), "INT32"))
    inputs = []
    for name, array, dtype in values:
        tensor = http.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def generate(url: str, prompt: str, steps: int = 4, seed: int = 0, frames: Optional[int] = None,
             model: str = STUDENT_MODEL, timeout_s: float = 300.0, client=None, mp4: bool = False):
    """One video (F, H, W, 3) uint8 from the server at ``url`` (host:port of its HTTP endpoint); with ``mp4``,
    (video, the server's H.264 MP4 bytes)."""
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    client = client or http.InferenceServerClient(url=url, network_timeout=timeout_s, connection_timeout=timeout_s)
    try:
        outputs = [http.InferRequestedOutput("VIDEO")] + ([http.InferRequestedOutput("MP4")] if mp4 else [])
        result = client.infer(model, request_inputs(prompt, steps, seed, frames), outputs=outputs)
    except InferenceServerException as err:
        raise GenerationError(f"{model}: {err.message() if hasattr(err, 'message') else err}") from None
    except OSError as err:  # refused, reset, unreachable, timed out
        raise GenerationError(f"cannot reach the server at {url} ({type(err).__name__}: {err}); start one with "
                              "`make serve` or `mcm serve start`") from None
    video = result.as_numpy("VIDEO")[0]
    return (video, bytes(result.as_numpy("MP4").reshape(-1)[0])) if mp4 else video
