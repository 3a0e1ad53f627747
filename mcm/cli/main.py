"""``mcm``: one verb per module; each module's ``register(subparsers)`` adds its parser.

    mcm config show PRESET_OR_YAML [--set key=value ...]
    mcm distill --config PRESET_OR_YAML [--output DIR] [--max-steps N] [--resume] [--set key=value ...]
    mcm sample --checkpoint DIR --prompt TEXT [--steps N] --out FILE.mp4
    mcm sample --teacher PRESET_OR_YAML --scheduler ddim|dpm++ --steps N --guidance G --prompt TEXT --out FILE.mp4
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Verb modules; optional ones (their extras may be missing) are skipped when they fail to import.
VERBS = ("config", "distill", "sample", "world")
OPTIONAL_VERBS = ("data", "eval", "report", "convert", "reproduce", "export", "serve", "generate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcm", description="Motion Consistency Model distillation")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True)
    for name in VERBS:
        importlib.import_module(f"mcm.cli.{name}").register(sub)
    for name in OPTIONAL_VERBS:
        try:
            module = importlib.import_module(f"mcm.cli.{name}")
        except ImportError:
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        # Bad input (a config, a path, weights that are not there) ends in one line that names it, no traceback.
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"mcm {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
