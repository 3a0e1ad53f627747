"""``mcm world``: write the small video world (V, M, the styled set, the prompt sets) to a folder.

    mcm world --out data/world [--set num_videos=2048 ...] [--config params.yaml --section world]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcm.cli.yaml_args import apply_sets, load_section


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from mcm.world.sets import WorldConfig
    from mcm.world.write import write_world

    data = load_section(args.config, args.section)
    out = args.out or data.pop("out", None)
    data = apply_sets(data, args.set)
    if not out:
        raise ValueError("mcm world: give --out DIR (or `out:` in the config section)")
    try:
        cfg = WorldConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc
    counts = write_world(cfg, out, progress=lambda name, n: print(f"world: {name}: {n} items", file=sys.stderr))
    print(json.dumps({"out": str(out), "counts": counts}))
    return 0


def _assets(args: argparse.Namespace) -> int:
    import time

    from mcm.world.assets import PARTS, ToyAssetsConfig, build_toy_assets

    data = apply_sets(load_section(args.config, None), args.set)
    cfg = ToyAssetsConfig.model_validate(data)
    parts = tuple(p for p in (args.parts or ",".join(PARTS)).split(",") if p)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"--parts: unknown {unknown}; choose from {PARTS}")
    t0 = time.perf_counter()
    doc = build_toy_assets(args.out, cfg, log=lambda line: print(line, file=sys.stderr, flush=True), parts=parts)
    print(json.dumps({"out": args.out, "model_bytes": doc["model_bytes"], "total_bytes": doc["total_bytes"],
                      "seconds": doc["seconds"], "wall_s": round(time.perf_counter() - t0, 1)}, indent=1))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("world", help="write the small synthetic video world (data + prompt sets)")
    sub = p.add_subparsers(dest="world_verb")
    a = sub.add_parser("assets", help="train the small world's networks (make toy-assets)")
    a.add_argument("--out", default="assets/toy", help="assets folder (default assets/toy)")
    a.add_argument("--parts", help="comma list of parts to train (default: all): "
                   "text_encoder,vae,teacher,backbone,eval")
    a.add_argument("--config", help="YAML with a ToyAssetsConfig")
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (dotted key, YAML value)")
    a.set_defaults(func=_assets)
    p.add_argument("--out", help="output folder")
    p.add_argument("--config", help="YAML file with the world config (e.g. params.yaml)")
    p.add_argument("--section", help="dotted key of the config inside the file (e.g. world)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (YAML value)")
    p.set_defaults(func=_run)
