"""``mcm world``: write the small video world (V, M, the styled set, the prompt sets) to a folder.

    mcm world --out data/world [--set num_videos=2048 ...] [--config params.yaml --section world]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from mcm.world.sets import WorldConfig
    from mcm.world.write import write_world

    data: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        for part in (args.section or "").split("."):
            if part:
                if part not in data:
                    raise ValueError(f"--section {args.section!r}: no key {part!r} in {args.config}")
                data = data[part]
    data = dict(data)
    out = args.out or data.pop("out", None)
    for item in args.set or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        data[key] = yaml.safe_load(value)
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

    data: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    for item in args.set or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        node = data
        *path, leaf = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
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
    a.add_argument("--parts", help="comma list of parts to train (default: all): text_encoder,vae,teacher,backbone,eval")
    a.add_argument("--config", help="YAML with a ToyAssetsConfig")
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (dotted key, YAML value)")
    a.set_defaults(func=_assets)
    p.add_argument("--out", help="output folder")
    p.add_argument("--config", help="YAML file with the world config (e.g. params.yaml)")
    p.add_argument("--section", help="dotted key of the config inside the file (e.g. world)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (YAML value)")
    p.set_defaults(func=_run)
