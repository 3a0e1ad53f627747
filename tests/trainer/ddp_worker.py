"""Run by torchrun in tests: train a preset with the given overrides, then save this rank's trained state
(LoRA, motion head and its EMA copy, discriminator heads) and the optimisers' step counts."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mcm.config.load import load_config
from mcm.student.lora import lora_state_dict
from mcm.runs.folder import STUDENT_PREFIX
from mcm.trainer.trainer import Trainer


def main() -> None:
    run_dir, out_dir, preset, *overrides = sys.argv[1:]
    torch.set_num_threads(1)
    trainer = Trainer(load_config(preset, overrides), run_dir)
    trainer.train()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {STUDENT_PREFIX + k: v for k, v in lora_state_dict(trainer.teacher.network).items()}
    weights.update(trainer._motion_weights())
    if trainer.adv is not None:
        weights.update(trainer.adv.weights())
    save_file({k: v.contiguous() for k, v in weights.items()}, str(out / f"state-rank{trainer.rank}.safetensors"))
    optimizers = [trainer.optimizer.optimizer] + ([trainer.adv.optimizer.optimizer] if trainer.adv else [])
    adam_steps = {float(s["step"]) for opt in optimizers for s in opt.state_dict()["state"].values()}
    (out / f"counts-rank{trainer.rank}.json").write_text(
        json.dumps({"adam_steps": sorted(adam_steps), "position": trainer.position, "updates": trainer.step,
                    "world": trainer.world, "generated": trainer.cfg.distill.lambda_real})
    )


if __name__ == "__main__":
    main()
