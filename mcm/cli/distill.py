"""``mcm distill``: train a student (resumable; runs under torchrun for DDP)."""

from __future__ import annotations

from pathlib import Path

from mcm.cli.config import add_config_arguments
from mcm.config.load import load_config

DEFAULT_RUNS = Path("runs")


def register(sub) -> None:
    p = sub.add_parser("distill", help="distill a few-step student from a teacher")
    p.add_argument("--config", required=True, help="preset name or YAML file")
    p.add_argument("--section", help="dotted key of the config inside the YAML file (e.g. distill of params.yaml)")
    p.add_argument("--output", help="run folder (default: runs/<config name>)")
    p.add_argument("--max-steps", type=int, help="optimiser updates in total (sets optim.max_steps)")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mcm.trainer.trainer import Trainer

    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ValueError(f"--max-steps={args.max_steps} must be >= 1")
        overrides.append(f"optim.max_steps={args.max_steps}")
    cfg = load_config(args.config, overrides, section=args.section)
    output = Path(args.output) if args.output else DEFAULT_RUNS / (args.section or Path(args.config).stem)
    trainer = Trainer(cfg, output, resume=args.resume)
    status = trainer.train()
    if trainer.is_main:
        from mcm.runs.folder import write_latest
        from mcm.trainer.report import write_run_report

        write_latest(output)
        print(f"{status}: run folder {output}, report {write_run_report(output)}")
    return 0
