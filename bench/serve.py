"""Export and serving (issue 12): ONNX against eager PyTorch, Triton's dynamic batching, and the served student
against the served teacher, on this CPU with a real Triton server (the serving environment of `make serve-venv`).

    python bench/serve.py            # the make pipeline-run student (runs/LATEST) when present, else the tiny one
    python bench/serve.py --quick    # under two minutes: the tiny student, fewer requests (marked in the output)

Measured, in one run, with one thread per process (the server's models and the eager reference alike):
    unet latency       the merged student UNet at batch 1: PyTorch eager vs onnxruntime (its ONNX part)
    unet batching      per-sample throughput of the ONNX UNet at batch 8 against batch 1 (the gain batching can give)
    triton batching    videos/s of 8 concurrent clients (4-step requests) with dynamic batching on vs off, same
                       instances; the gain against the UNet's own
    served speed-up    end-to-end latency of the served teacher (50 guided DDIM steps) over the served 4-step
                       student, against the limit the measured fixed costs allow:
                       (F + 50 u2) / (F + 4 u1), u1 / u2 the ONNX UNet at batch 1 / 2 (CFG), F the served 1-step
                       student's latency minus u1 (tokenising, text encoder, noise, VAE decoder, transport)
    load               8 clients x 25 requests (1/2/4/8 steps, every 5th malformed): p50 / p95 latency, throughput

Goals: ONNX not slower than eager (ratio <= 1); Triton's batching gain >= 0.8x the UNet's; the served speed-up
>= 0.9x its limit.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcm.config.load import load_config  # noqa: E402
from mcm.export.diffusers_student import export_diffusers  # noqa: E402
from mcm.export.onnx_parts import export_onnx, export_teacher_unet  # noqa: E402
from mcm.sampler.timing import time_round_robin  # noqa: E402
from mcm.serve.repository import RepositoryConfig, build_repository  # noqa: E402
from mcm.student.lora import add_lora, lora_layers, merge_lora  # noqa: E402
from mcm.teachers.registry import load_teacher  # noqa: E402

ONNX_RATIO_MAX = 1.0
BATCHING_SHARE_MIN = 0.8
SPEEDUP_SHARE_MIN = 0.9
PROMPT = "a red circle moving left"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def student(quick: bool):
    """(teacher with the student's LoRA, cfg, where it came from)."""
    latest = ROOT / "runs" / "LATEST"
    if not quick and latest.exists():
        from mcm.sampler.student import load_student

        teacher, cfg = load_student(latest)
        return teacher, cfg, f"runs/LATEST ({cfg.teacher.kind}, {cfg.data.num_frames}x{cfg.data.height}x{cfg.data.width})"
    cfg = load_config("tiny")
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=0)
    g = torch.Generator().manual_seed(1)
    for layer in lora_layers(teacher.network):
        for key in layer.lora_B:
            layer.lora_B[key].weight.data.normal_(0, 0.05, generator=g)
    return teacher, cfg, "tiny (random teacher, random non-zero LoRA)"


def start(repo: Path, venv: Path):
    from mcm.serve.server import start_server

    server = start_server(repo, venv=venv, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port())
    server.wait_ready(240)
    return server


def clients_throughput(url: str, clients: int, per_client: int, steps: int, repeats: int) -> float:
    """Videos/s of ``clients`` concurrent clients, median of ``repeats`` timed passes after an untimed one (the
    warm-up runs the same concurrency, so every batch size the batcher forms has run before timing)."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import tritonclient.http as http

    from mcm.serve.client import generate

    def loop(c: int) -> None:
        conn = http.InferenceServerClient(url=url, network_timeout=300)
        for r in range(per_client):
            generate(url, PROMPT, steps=steps, seed=c * 100 + r, client=conn)

    def timed_pass() -> float:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(loop, range(clients)))
        return clients * per_client / (time.perf_counter() - t0)

    timed_pass()  # warm-up
    return statistics.median(timed_pass() for _ in range(repeats))


def served_latency(url: str, model: str, steps: int, repeats: int) -> float:
    from mcm.serve.client import generate

    generate(url, PROMPT, steps=steps, seed=0, model=model)
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        generate(url, PROMPT, steps=steps, seed=r, model=model)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny student, fewer requests (under two minutes)")
    parser.add_argument("--venv", default=os.environ.get("MCM_SERVE_VENV", str(ROOT / ".venv-serve")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["MCM_SERVE_THREADS"] = "1"
    venv = Path(args.venv)
    if not (venv / "bin" / "python").exists():
        print(f"no serving environment at {venv}: run `make serve-venv`", file=sys.stderr)
        return 2
    per_client = 3 if args.quick else 12
    rounds = 5 if args.quick else 15

    teacher, cfg, source = student(args.quick)
    print(f"student: {source}{'  [QUICK]' if args.quick else ''}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    record = export_teacher_unet(teacher, cfg, tmp / "export", echo=lambda _: None)
    export_diffusers(teacher, cfg, tmp / "export")
    merge_lora(teacher.network)
    teacher.network.eval()
    export_onnx(teacher, cfg, tmp / "export", echo=lambda _: None, teacher_unet=record)

    # --- the UNet alone: eager vs onnxruntime, and batching ---------------------------------------------------
    import onnxruntime as ort

    from mcm.export.onnx_parts import part_specs

    spec = next(s for s in part_specs(teacher, cfg, cfg.data.num_frames) if s.name == "unet")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(tmp / "export" / "onnx" / "unet.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    feeds = {b: spec.inputs(b) for b in (1, 2, 8)}

    def eager(b):
        with torch.inference_mode():
            spec.module(*feeds[b].values())

    def onnx(b):
        session.run(None, {k: v.numpy() for k, v in feeds[b].items()})

    for b in (1, 2, 8):
        eager(b), onnx(b)
    times = time_round_robin({"eager1": lambda: eager(1), "ort1": lambda: onnx(1), "ort2": lambda: onnx(2),
                              "ort8": lambda: onnx(8)}, {"eager1": rounds, "ort1": rounds, "ort2": rounds,
                                                         "ort8": max(3, rounds // 3)})
    onnx_ratio = times["ort1"] / times["eager1"]
    unet_gain = (8 / times["ort8"]) / (1 / times["ort1"])
    print(f"{'unet (merged student)':<34} eager b1 {times['eager1'] * 1e3:8.2f} ms   onnxruntime b1 "
          f"{times['ort1'] * 1e3:8.2f} ms   ratio {onnx_ratio:.2f}")
    print(f"{'unet batching (onnxruntime)':<34} b1 {1 / times['ort1']:8.1f}/s   b8 {8 / times['ort8']:8.1f}/s per sample"
          f"   gain {unet_gain:.2f}x")

    # --- Triton: dynamic batching on vs off; served student vs teacher; load -----------------------------------
    results = {}
    for name, batching in (("on", True), ("off", False)):
        repo = build_repository(tmp / "export", tmp / f"repo-{name}",
                                RepositoryConfig(max_batch=8, max_queue_size=64, queue_delay_us=3000,
                                                 dynamic_batching=batching))
        server = start(repo, venv)
        try:
            results[name] = clients_throughput(server.url, 8, per_client, 4, repeats=3)
            if batching:
                l1 = served_latency(server.url, "student", 1, rounds)
                l4 = served_latency(server.url, "student", 4, rounds)
                lt = served_latency(server.url, "teacher", 50, max(2, rounds // 5))
                from mcm.serve.loadtest import run_load

                frame_shape = (cfg.data.num_frames, cfg.data.height, cfg.data.width, 3)
                load = run_load(server.url, clients=8, requests_per_client=5 if args.quick else 25,
                                frame_shape=frame_shape)
        finally:
            server.stop()
    triton_gain = results["on"] / results["off"]
    print(f"{'triton, 8 clients x 4-step':<34} batching off {results['off']:7.2f} videos/s   on {results['on']:7.2f} "
          f"videos/s   gain {triton_gain:.2f}x (UNet's {unet_gain:.2f}x)")
    fixed = max(l1 - times["ort1"], 0.0)
    limit = (fixed + 50 * times["ort2"]) / (fixed + 4 * times["ort1"])
    speedup = lt / l4
    print(f"{'served end to end':<34} student 1 step {l1 * 1e3:7.1f} ms, 4 steps {l4 * 1e3:7.1f} ms; teacher 50 guided "
          f"steps {lt * 1e3:8.1f} ms")
    print(f"{'served speed-up':<34} {speedup:.2f}x; limit from fixed cost F = {fixed * 1e3:.1f} ms: {limit:.2f}x "
          f"(NFE ratio 25)")
    print(f"{'load (8 clients)':<34} {load.outcomes}  p50 {load.percentile(50) * 1e3:.0f} ms  p95 "
          f"{load.percentile(95) * 1e3:.0f} ms  {load.throughput:.1f} videos/s; failed valid requests: "
          f"{len(load.failures)}")

    def goal(name: str, value: float, target: float, ok: bool) -> None:
        print(f"GOAL {name} {value:.3f} {target:g} {'PASS' if ok else 'MISS'}")

    goal("onnx_over_eager_unet_latency_max", onnx_ratio, ONNX_RATIO_MAX, onnx_ratio <= ONNX_RATIO_MAX)
    share = triton_gain / unet_gain
    goal("triton_batching_gain_share_of_unet_min", share, BATCHING_SHARE_MIN, share >= BATCHING_SHARE_MIN)
    share_speed = speedup / limit
    goal("served_speedup_share_of_limit_min", share_speed, SPEEDUP_SHARE_MIN, share_speed >= SPEEDUP_SHARE_MIN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
