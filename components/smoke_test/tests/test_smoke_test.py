"""The smoke test of the served model: unit (what counts as a usable video) and kfp.local (a real Triton server on
the published repository answers one request with a video of the exported shape)."""

import json

import numpy as np
import pytest

from components.smoke_test.check import SmokeTestFailed, check_video, wait_model_ready


def test_check_video_names_what_is_wrong():
    rng = np.random.default_rng(0)
    good = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    stats = check_video(good, frames=8, size=32)
    assert stats["frames"] == 8 and stats["pixel_std"] > 10
    with pytest.raises(SmokeTestFailed, match="expected 8 frames, got 4"):
        check_video(good[:4], frames=8)
    with pytest.raises(SmokeTestFailed, match="expected 64x64"):
        check_video(good, size=64)
    with pytest.raises(SmokeTestFailed, match="blank"):
        check_video(np.full((8, 32, 32, 3), 7, np.uint8))
    with pytest.raises(SmokeTestFailed, match="every frame is the same"):
        check_video(np.repeat(good[:1], 8, axis=0))
    with pytest.raises(SmokeTestFailed, match="uint8"):
        check_video(good.astype(np.float32))
    with pytest.raises(SmokeTestFailed, match=r"shape \(8, 32, 32\)"):
        check_video(good[..., 0])


def test_an_unreachable_service_fails_with_its_address():
    with pytest.raises(SmokeTestFailed, match="not ready after 1 s"):
        wait_model_ready("127.0.0.1:9", "student", timeout_s=1)


def test_smoke_component_gets_a_video_from_a_served_student(published, kfp_local):
    from kfp import dsl
    from kfp.dsl import Artifact, Metrics

    from components.smoke_test.component import smoke_test
    from pipelines.params import TINY, load_params

    params = load_params(overlays=[TINY])

    @dsl.pipeline
    def p() -> Metrics:
        repo = dsl.importer(artifact_uri=str(published["repository"]), artifact_class=Artifact, reimport=False)
        return smoke_test(repository=repo.output, config=params["pipeline"]["smoke"], url="").outputs["metrics"]

    out = p().output
    step = __import__("pathlib").Path(out.path).parent
    metrics = json.loads((step / "executor_output.json").read_text())["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert (metrics["frames"], metrics["height"], metrics["width"]) == (8, 32, 32)
    assert metrics["pixel_std"] > 1 and metrics["latency_s"] > 0
