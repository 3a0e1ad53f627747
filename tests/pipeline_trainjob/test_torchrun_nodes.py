"""The rendered TrainJob command under the variables the Trainer's torch runtime injects: two ``torchrun``
agents as two nodes (PET_NNODES=2, PET_NODE_RANK=0/1, PET_MASTER_ADDR/PORT) on gloo, each running the
``mcm distill`` verb on the tiny preset for two updates; the ranks end with identical weights, equal to the
final checkpoint rank 0 wrote."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

from pipelines.trainjob import TrainJobParams, render_trainjob

WORKER = Path(__file__).with_name("distill_node.py")
UPDATES = 2
OVERRIDES = [f"optim.max_steps={UPDATES}", "optim.global_batch=2", "data.batch_size=1", "optim.warmup_steps=0",
             "optim.lr=1e-3", "data.synthetic_size=8", "train.validate_every=0", "train.checkpoint_every=1",
             "train.log_every=1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_env(trainer: dict, rank: int, port: int) -> dict[str, str]:
    """A node's environment: the TrainJob's env, and the PET_* values the torch plugin would inject."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # torchrun of this venv
        **{e["name"]: e["value"] for e in trainer["env"]},
        "PET_NNODES": str(trainer["numNodes"]), "PET_NPROC_PER_NODE": str(trainer["numProcPerNode"]),
        "PET_NODE_RANK": str(rank), "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": str(port),
    }


def test_two_nodes_under_the_trainers_pet_variables_end_identical(tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    command = [sys.executable, str(WORKER), str(out), "distill", "--config", "tiny", "--output", str(run)]
    command += [arg for o in OVERRIDES for arg in ("--set", o)]
    trainer = render_trainjob(TrainJobParams(name="mcm-tiny", image="mcm:test", num_nodes=2, command=command,
                                             env={"OMP_NUM_THREADS": "1"}))["spec"]["trainer"]
    assert trainer["command"][0] == "torchrun" and trainer["numProcPerNode"] == 1

    port = free_port()
    nodes = [subprocess.Popen(trainer["command"] + trainer["args"], env=node_env(trainer, rank, port), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    try:
        logs = [node.communicate(timeout=120)[0] for node in nodes]
    finally:
        for node in nodes:  # a node left waiting at the rendezvous, once the other failed
            if node.poll() is None:
                node.kill()
    for rank, (node, log) in enumerate(zip(nodes, logs)):
        assert node.returncode == 0, f"node {rank} failed:\n{log[-3000:]}"

    ranks = [load_file(str(out / f"state-rank{r}.safetensors")) for r in (0, 1)]
    for r in (0, 1):
        with safe_open(str(out / f"state-rank{r}.safetensors"), "pt") as f:
            assert f.metadata() == {"world": "2", "step": str(UPDATES)}  # one world of two ranks, N updates
    assert ranks[0].keys() == ranks[1].keys() and ranks[0]
    different = [k for k in ranks[0] if not ranks[0][k].equal(ranks[1][k])]
    assert not different, f"the ranks differ at {different[:4]}"

    checkpoints = sorted((run / "checkpoints").iterdir())
    final, first = (load_file(str(c / "weights.safetensors")) for c in (checkpoints[-1], checkpoints[0]))
    assert all(final[k].equal(ranks[0][k]) for k in ranks[0])  # what rank 0 wrote is what both ranks hold
    assert any(not final[k].equal(first[k]) for k in ranks[0])  # and the second update moved it
