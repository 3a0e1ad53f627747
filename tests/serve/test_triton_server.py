"""A real Triton server on this CPU (the nvidia-pytriton wheel's tritonserver, from the serving environment that
`make serve-venv` builds): the served student equals the in-process sampler, malformed requests are rejected with
a message naming the problem, a burst beyond the queue is answered UNAVAILABLE, and the server stays healthy.

The serving environment comes from MCM_SERVE_VENV (`make test` sets it) or .venv-serve; without either the
tests skip and say how to get one."""

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from mcm.config.load import load_config
from mcm.export.diffusers_student import export_diffusers
from mcm.export.onnx_parts import default_guidance, export_onnx, export_teacher_unet
from mcm.sampler.api import VideoGenerator
from mcm.serve.repository import RepositoryConfig, build_repository
from mcm.student.lora import add_lora, lora_layers, merge_lora
from mcm.teachers.registry import load_teacher

ROOT = Path(__file__).resolve().parents[2]
SERVE_VENV = Path(os.environ.get("MCM_SERVE_VENV", ROOT / ".venv-serve"))
PROMPT = "a red ball"
#: Served against in-process videos, in uint8 levels (the same float32 arithmetic: measured 0).
TOLERANCE_LEVELS = 1

pytestmark = pytest.mark.skipif(not (SERVE_VENV / "bin" / "python").exists(),
                                reason=f"no serving environment at {SERVE_VENV}: run `make serve-venv`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mcm.serve.server import start_server

    tmp = tmp_path_factory.mktemp("serve")
    cfg = load_config("tiny")
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=0)
    g = torch.Generator().manual_seed(1)
    for layer in lora_layers(teacher.network):
        for key in layer.lora_B:
            layer.lora_B[key].weight.data.normal_(0, 0.05, generator=g)
    teacher.network.requires_grad_(False)
    want = {}
    for steps, seed in ((1, 7), (4, 7), (4, 8)):
        video = VideoGenerator(teacher, cfg, "lcm", steps, 1.0, cfg.data.num_frames)([PROMPT], [seed])[0]
        want[steps, seed] = np.round(video.permute(0, 2, 3, 1).numpy() * 255)
    guidance = default_guidance(cfg)
    for steps in (2, 6):  # the teacher's guided DDIM (LoRA disabled), the served baseline
        video = VideoGenerator(teacher, cfg, "ddim", steps, guidance, cfg.data.num_frames)([PROMPT], [7])[0]
        want["teacher", steps] = np.round(video.permute(0, 2, 3, 1).numpy() * 255)
    record = export_teacher_unet(teacher, cfg, tmp / "export", echo=lambda _: None)
    export_diffusers(teacher, cfg, tmp / "export")
    merge_lora(teacher.network)
    export_onnx(teacher, cfg, tmp / "export", echo=lambda _: None, teacher_unet=record)
    repo = build_repository(tmp / "export", tmp / "repository",
                            RepositoryConfig(max_batch=4, max_queue_size=8, queue_delay_us=500))
    port = free_port()
    server = start_server(repo, venv=SERVE_VENV, http_port=port, grpc_port=free_port(), metrics_port=free_port())
    try:
        server.wait_ready(180)
        yield server, want, cfg
    finally:
        server.stop()


def test_served_student_equals_the_in_process_sampler(served):
    from mcm.serve.client import generate

    server, want, cfg = served
    for (steps, seed), expected in want.items():
        if steps == "teacher":
            continue
        got = generate(server.url, PROMPT, steps=steps, seed=seed)
        assert got.dtype == np.uint8 and got.shape == (cfg.data.num_frames, cfg.data.height, cfg.data.width, 3)
        assert np.abs(got.astype(float) - expected).max() <= TOLERANCE_LEVELS, (steps, seed)
    assert np.abs(want[4, 7] - want[4, 8]).max() > 10  # the seed matters: the comparison can fail
    video, mp4 = generate(server.url, PROMPT, steps=4, seed=7, mp4=True)  # the optional H.264 output
    from mcm.sampler.video_io import read_mp4

    path = server.log_path.parent / "served.mp4"
    path.write_bytes(mp4)
    decoded = read_mp4(path)
    assert decoded.shape[0] == cfg.data.num_frames and np.array_equal(video, np.round(want[4, 7]))


def test_served_teacher_equals_the_in_process_baseline(served):
    from mcm.serve.client import GenerationError, generate

    server, want, cfg = served
    for steps in (2, 6):
        got = generate(server.url, PROMPT, steps=steps, seed=7, model="teacher")
        assert np.abs(got.astype(float) - want["teacher", steps]).max() <= TOLERANCE_LEVELS, steps
    with pytest.raises(GenerationError, match="STEPS=51 is outside 1-50"):
        generate(server.url, PROMPT, steps=51, seed=7, model="teacher")


def test_malformed_requests_are_rejected_and_the_server_stays_up(served):
    import tritonclient.http as http

    from mcm.serve.client import GenerationError, generate, request_inputs

    server, want, cfg = served
    cases = {
        "PROMPT is empty": dict(prompt="   ", steps=2),
        "STEPS=0 is outside 1-8": dict(prompt="x", steps=0),
        "STEPS=9 is outside 1-8": dict(prompt="x", steps=9),
        "PROMPT has 301 characters; at most 300": dict(prompt="x" * 301, steps=2),
        f"exactly {cfg.data.num_frames} frames": dict(prompt="x", steps=2, frames=cfg.data.num_frames + 1),
        "SEED=-1 must be >= 0": dict(prompt="x", steps=2, seed=-1),
    }
    for message, request in cases.items():
        request.setdefault("seed", 1)
        with pytest.raises(GenerationError, match=message.replace("(", r"\(")):
            generate(server.url, **request)
    # A wrong type is refused by Triton itself, naming the input and the expected type.
    client = http.InferenceServerClient(url=server.url)
    inputs = request_inputs("x", 2, 1)
    bad = http.InferInput("STEPS", [1, 1], "FP32")
    bad.set_data_from_numpy(np.array([[2.0]], dtype=np.float32))
    with pytest.raises(Exception, match="STEPS"):
        client.infer("student", [inputs[0], bad, inputs[2]])
    assert server.ready()
    got = generate(server.url, PROMPT, steps=4, seed=7)
    assert np.abs(got.astype(float) - want[4, 7]).max() <= TOLERANCE_LEVELS


def test_load_with_malformed_requests_then_a_burst_beyond_the_queue(served):
    """8 clients x 25 requests of 1/2/4/8 steps, every 5th malformed; then 48 requests at once."""
    from mcm.serve.client import generate
    from mcm.serve.loadtest import burst, run_load

    server, want, cfg = served
    frame_shape = (cfg.data.num_frames, cfg.data.height, cfg.data.width, 3)
    load = run_load(server.url, clients=8, requests_per_client=25, frame_shape=frame_shape)
    assert load.failures == [] and load.unclear_rejections == []
    assert load.outcomes == {"ok": 160, "rejected": 40}, load.outcomes  # the queue (8) holds 8 clients
    assert load.percentile(95) >= load.percentile(50) > 0
    print(f"load: {load.throughput:.1f} videos/s, p50 {load.percentile(50) * 1e3:.0f} ms, "
          f"p95 {load.percentile(95) * 1e3:.0f} ms")
    outcome = burst(server.url, count=48, workers=24)
    assert outcome.get("failed", 0) == 0, outcome
    assert outcome.get("ok", 0) > 0 and outcome.get("unavailable", 0) > 0, outcome  # overload: UNAVAILABLE
    assert server.ready()
    got = generate(server.url, PROMPT, steps=1, seed=7)
    assert np.abs(got.astype(float) - want[1, 7]).max() <= TOLERANCE_LEVELS


def scrape(server) -> dict[tuple[str, tuple], float]:
    """The metrics port's samples: (sample name, sorted labels) -> value, parsed by prometheus_client."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_videos_latency_and_rejections(served):
    """Two 3-step videos and one malformed request move mcm's counters and histogram by exactly that much."""
    from mcm.serve.client import GenerationError, generate

    server, want, cfg = served
    labels = (("model", "student"), ("steps", "3"))
    before = scrape(server)
    for seed in (1, 2):
        generate(server.url, PROMPT, steps=3, seed=seed)
    with pytest.raises(GenerationError, match="PROMPT is empty"):
        generate(server.url, " ", steps=3, seed=1)
    after = scrape(server)

    def delta(name, sample_labels=labels):
        return after.get((name, sample_labels), 0.0) - before.get((name, sample_labels), 0.0)

    assert delta("mcm_videos_generated_total") == 2
    assert delta("mcm_requests_rejected_total", (("model", "student"),)) == 1
    assert delta("mcm_generation_latency_seconds_count") in (1, 2)  # one batch of two, or two batches of one
    seconds = delta("mcm_generation_seconds_total")
    assert seconds > 0 and delta("mcm_generation_latency_seconds_sum") == pytest.approx(seconds, rel=1e-6)
    buckets = {dict(k[1])["le"]: v for k, v in after.items()
               if k[0] == "mcm_generation_latency_seconds_bucket" and dict(k[1]).get("steps") == "3"}
    assert float(buckets.pop("+Inf")) == after["mcm_generation_latency_seconds_count", labels]
    assert len(buckets) == len(RepositoryConfig().latency_buckets_s)
    counts = [buckets[b] for b in sorted(buckets, key=float)]
    assert counts == sorted(counts)  # cumulative
    success = [v for (name, lab), v in after.items()
               if name == "nv_inference_request_success_total" and dict(lab).get("model") == "student"]
    assert success and success[0] >= 2  # Triton's own (nv_inference_request_success; the parser adds _total)
