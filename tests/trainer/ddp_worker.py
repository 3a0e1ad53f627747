"""Run by torchrun in tests: train with the given overrides, then save this rank's LoRA and step counts."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mcm.config import load_config
from mcm.student.lora import lora_state_dict
from mcm.trainer.trainer import Trainer


def main() -> None:
    run_dir, out_dir, *overrides = sys.argv[1:]
    torch.set_num_threads(1)
    trainer = Trainer(load_config("tiny", overrides), run_dir)
    trainer.train()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(trainer.teacher.network), str(out / f"lora-rank{trainer.rank}.safetensors"))
    adam_steps = {float(s["step"]) for s in trainer.optimizer.optimizer.state_dict()["state"].values()}
    (out / f"counts-rank{trainer.rank}.json").write_text(
        json.dumps({"adam_steps": sorted(adam_steps), "position": trainer.position, "updates": trainer.step,
                    "world": trainer.world})
    )


if __name__ == "__main__":
    main()
