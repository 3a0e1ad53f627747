"""Run by torchrun in tests, as a TrainJob node runs ``mcm``: ``python distill_node.py OUT distill ARGS...`` runs
the ``mcm distill`` verb itself (``mcm.cli.main.main``), then writes this rank's trained LoRA weights to
``OUT/state-rank{rank}.safetensors``: only rank 0 writes checkpoints, so each rank's state is saved here to
check that the ranks agree."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mcm.cli.main import main
from mcm.runs.folder import STUDENT_PREFIX
from mcm.student.lora import lora_state_dict
from mcm.trainer.trainer import Trainer


def run() -> int:
    out, *argv = sys.argv[1:]
    torch.set_num_threads(1)
    train = Trainer.train

    def train_then_save(trainer: Trainer):
        status = train(trainer)
        weights = {STUDENT_PREFIX + k: v.contiguous() for k, v in lora_state_dict(trainer.teacher.network).items()}
        Path(out).mkdir(parents=True, exist_ok=True)
        save_file(weights, str(Path(out) / f"state-rank{trainer.rank}.safetensors"),
                  metadata={"world": str(trainer.world), "step": str(trainer.step)})
        return status

    Trainer.train = train_then_save
    return main(argv)


if __name__ == "__main__":
    sys.exit(run())
