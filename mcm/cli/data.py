"""``mcm data videos`` and ``mcm data images``: prepare training shards (library: mcm.data.ingest / .images).

Configuration comes from a YAML file (``--config params.yaml --section data_videos``, the DVC layout) and
``--set key=value`` overrides (values parsed as YAML). Prints the manifest summary as JSON; exits 1 when the
share of bad input rows exceeds ``max_bad_fraction``, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcm.cli.yaml_args import apply_sets, load_section

#: Exit codes.
EXIT_OK, EXIT_TOO_MANY_BAD, EXIT_CONFIG = 0, 1, 2


def _load(args: argparse.Namespace) -> dict[str, Any]:
    return apply_sets(load_section(args.config, args.section), args.set)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    if args.kind == "videos":
        from mcm.data.ingest import VideoIngestConfig as Config, ingest_videos as run
    else:
        from mcm.data.images import ImageFilterConfig as Config, filter_images as run
    try:
        config = Config.model_validate(_load(args))
        manifest = run(config)
    except (ValidationError, ValueError) as exc:
        print(f"mcm data {args.kind}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except FileNotFoundError as exc:
        print(f"mcm data {args.kind}: error: input not found: {exc.filename} (put the table there, or "
              "--set input=PATH --set root=FOLDER)", file=sys.stderr)
        return EXIT_CONFIG
    summary = manifest.model_dump(include={"complete", "num_input", "num_written", "skipped", "filtered",
                                           "bad_fraction", "content_hash"})
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    if manifest.exceeds(config.max_bad_fraction):
        print(f"mcm data {args.kind}: bad input share {manifest.bad_fraction:.3f} > max_bad_fraction "
              f"{config.max_bad_fraction}", file=sys.stderr)
        return EXIT_TOO_MANY_BAD
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``data`` with sub-verbs ``videos`` and ``images``."""
    data = subparsers.add_parser("data", help="prepare video and image training shards")
    verbs = data.add_subparsers(dest="data_verb", required=True)
    for kind, text in (("videos", "ingest a video-caption set into clip shards"),
                       ("images", "filter an image-caption set by aesthetic score, size and aspect")):
        p = verbs.add_parser(kind, help=text)
        p.add_argument("--config", help="YAML file with the config (e.g. params.yaml)")
        p.add_argument("--section", help="dotted key of the config inside the file (e.g. data_videos)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field (YAML value)")
        p.set_defaults(func=_run, kind=kind)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mcm.cli.data videos ...``) for use before mcm.cli.main wires it."""
    parser = argparse.ArgumentParser(prog="mcm")
    register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(["data", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
