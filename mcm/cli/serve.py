"""``mcm serve``: a Triton model repository from an exported student, and a local server on it.

    mcm serve repository --export exports/toy --out serving/repository [--backend python|onnxruntime|tensorrt]
    mcm serve start --repository serving/repository [--venv .venv-serve] [--port 8000]
"""

from __future__ import annotations

import argparse
import time


def _repository(args: argparse.Namespace) -> int:
    from mcm.serve.repository import RepositoryConfig, build_repository

    given = {"backend": args.backend, "max_batch": args.max_batch, "max_queue_size": args.max_queue_size,
             "instances": args.instances, "latency_buckets_s": args.latency_buckets}
    cfg = RepositoryConfig(**{k: v for k, v in given.items() if v is not None})  # unset: the config's default
    out = build_repository(args.export, args.out, cfg)
    models = sorted(p.name for p in out.iterdir() if (p / "config.pbtxt").is_file())
    print(f"model repository: {out} ({', '.join(models)}; part backend {cfg.backend})")
    return 0


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of seconds") from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _start(args: argparse.Namespace) -> int:
    import signal

    from mcm.serve.server import start_server

    signal.signal(signal.SIGTERM, _interrupt)  # a plain `kill` stops tritonserver too, not only Ctrl-C
    server = start_server(args.repository, venv=args.venv, http_port=args.port, loopback_only=not args.public)
    try:
        server.wait_ready(args.ready_timeout)
        print(f"serving {args.repository} at http://{server.url} (gRPC :{server.grpc_port}, metrics "
              f"http://localhost:{server.metrics_port}/metrics); Ctrl-C stops it", flush=True)
        print(f"try: mcm generate --url {server.url} --prompt 'a red circle moving left' --steps 4 --out video.mp4",
              flush=True)
        while server.process.poll() is None:
            time.sleep(1)
        return server.process.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` verb."""
    p = subparsers.add_parser("serve", help="Triton model repository of an exported student; a local server")
    sub = p.add_subparsers(dest="serve_verb", required=True)
    r = sub.add_parser("repository", help="write the model repository from `mcm export` output")
    r.add_argument("--export", required=True, help="folder written by mcm export (diffusers folder + onnx/)")
    r.add_argument("--out", required=True, help="model repository folder (replaced)")
    r.add_argument("--backend", choices=("python", "onnxruntime", "tensorrt"),
                   help="backend of the part models (python, the default: onnxruntime inside the Python backend)")
    # Unset options keep mcm.serve.repository.RepositoryConfig's defaults (one place for them).
    r.add_argument("--max-batch", type=int, help="videos per batch (dynamic batching)")
    r.add_argument("--max-queue-size", type=int, help="waiting requests; more answer UNAVAILABLE")
    r.add_argument("--instances", type=int, help="instances of each model")
    r.add_argument("--latency-buckets", type=_floats, metavar="S,S,...",
                   help="upper bounds in seconds of the mcm_generation_latency_seconds histogram")
    r.set_defaults(func=_repository)
    s = sub.add_parser("start", help="start tritonserver from the serving environment on a repository")
    s.add_argument("--repository", required=True)
    s.add_argument("--venv", default=".venv-serve", help="the serving environment (make serve-venv)")
    s.add_argument("--port", type=int, default=8000, help="HTTP port (gRPC +1, metrics +2)")
    s.add_argument("--public", action="store_true", help="listen on every interface (default: loopback only)")
    s.add_argument("--ready-timeout", type=float, default=180.0)
    s.set_defaults(func=_start)
