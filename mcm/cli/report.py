"""``mcm report``: the run overview (teacher and student side by side, speed-up, metrics, curves).

    mcm report [--run runs/LATEST] [--config params.yaml --section report] [--set speed.enabled=false]
"""

from __future__ import annotations

import argparse
from typing import Any

from mcm.cli.yaml_args import apply_sets, load_section


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from mcm.eval.overview import OverviewConfig, write_overview

    data = apply_sets(load_section(args.config, args.section), args.set)
    if args.run:
        data["run"] = args.run
    try:
        cfg = OverviewConfig.model_validate(data)
    except ValidationError as err:
        raise ValueError(f"report config: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None
    print(f"wrote {write_overview(cfg)}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write the run overview: teacher vs student videos, speed-up, metrics")
    p.add_argument("--run", help="run folder or runs/LATEST (overrides run)")
    p.add_argument("--config", help="YAML file with the overview config (e.g. params.yaml)")
    p.add_argument("--section", help="dotted key of the config inside the file (e.g. report)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (dotted key, YAML value)")
    p.set_defaults(func=_run)
