import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Tiny models on 2 shared cores: one thread avoids oversubscription stalls.
torch.set_num_threads(1)


def run_cli(*args: str, env_extra: dict | None = None, timeout: float = 600, check: bool = True):
    """Run ``python -m mcm.cli.main ARGS`` in a subprocess; returns the CompletedProcess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "mcm.cli.main", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mcm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def subprocess_cli():
    """``python -m mcm.cli.main`` in a subprocess, for tests that override ``cli`` with an in-process runner."""
    return run_cli


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps process-wide singletons: each test's Trainer may pick its own mixed precision."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
