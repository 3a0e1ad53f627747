"""Start a real Triton server on this machine from the serving environment (``.venv-serve``).

The nvidia-pytriton wheel carries a ``tritonserver`` binary with the Python backend; pytriton pins numpy below 2,
which mcm's data stack cannot use, so the server runs from its own virtual environment and the models borrow
torch, onnxruntime and transformers from mcm's (``MCM_SERVE_PYTHONPATH``: the serving environment's packages
first, so its numpy wins). Two wrinkles, handled here:

* the wheel keeps one Python-backend stub per Python version (``python_backend_stubs/3.X``); the one of the
  serving interpreter is copied next to the backend (what pytriton itself does at start);
* the stub links ``libpython3.X.so``: the interpreter's lib folder goes on ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


def _serve_site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"{venv} is not a virtual environment (make serve-venv creates .venv-serve)")
    return found[0]


def tritonserver_home(venv: str | Path) -> Path:
    """The wheel's ``pytriton/tritonserver`` folder inside the serving environment."""
    home = _serve_site_packages(Path(venv)) / "pytriton" / "tritonserver"
    if not (home / "bin" / "tritonserver").is_file():
        raise FileNotFoundError(f"no tritonserver under {home}: install nvidia-pytriton into {venv} "
                                "(make serve-venv)")
    return home


def prepare_backend(home: Path, python_version: str) -> Path:
    """Copy the Python-backend stub of ``python_version`` (e.g. '3.11') next to the backend; returns the
    backends folder."""
    stub = home / "python_backend_stubs" / python_version / "triton_python_backend_stub"
    if not stub.is_file():
        raise FileNotFoundError(f"no Python backend stub for Python {python_version} in {stub.parent.parent}")
    target = home / "backends" / "python" / stub.name
    if not target.is_file() or target.stat().st_size != stub.stat().st_size:
        shutil.copy2(stub, target)
    return home / "backends"


def server_environment(venv: Path, extra_site: list[Path]) -> dict[str, str]:
    import sysconfig

    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    paths = [_serve_site_packages(venv)] + extra_site
    env["MCM_SERVE_PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    env.setdefault("MCM_SERVE_THREADS", "1")
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"localhost:{self.http_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.url}/v2/health/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited ({self.process.returncode}); log: {self.log_path}\n"
                                   + self.log_path.read_text()[-3000:])
            if self.ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"tritonserver not ready after {timeout_s:.0f} s; log: {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(repository: str | Path, venv: str | Path = ".venv-serve", http_port: int = 8000,
                 grpc_port: Optional[int] = None, metrics_port: Optional[int] = None,
                 log_path: Optional[str | Path] = None, loopback_only: bool = True) -> ServerProcess:
    """Start tritonserver on ``repository`` (not waiting for readiness: call ``wait_ready``)."""
    venv = Path(venv).resolve()
    home = tritonserver_home(venv)
    backends = prepare_backend(home, f"{sys.version_info.major}.{sys.version_info.minor}")
    grpc_port = grpc_port or http_port + 1
    metrics_port = metrics_port or http_port + 2
    log_path = Path(log_path or Path(repository) / "tritonserver.log")
    mcm_site = [Path(p) for p in sys.path if p.endswith("site-packages")]
    address = "127.0.0.1" if loopback_only else "0.0.0.0"
    argv = [str(home / "bin" / "tritonserver"), f"--model-repository={Path(repository).resolve()}",
            f"--backend-directory={backends}", f"--http-port={http_port}", f"--grpc-port={grpc_port}",
            f"--metrics-port={metrics_port}", f"--http-address={address}", f"--grpc-address={address}",
            f"--metrics-address={address}", "--log-info=false", "--exit-on-error=true", "--exit-timeout-secs=5"]
    log = open(log_path, "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=server_environment(venv, mcm_site))
    return ServerProcess(process, http_port, grpc_port, metrics_port, log_path)
