"""Build (and push) the pipeline's container images named in images/images.yaml.

    python images/build.py                                   # build all eight, tagged from images.yaml
    python images/build.py --registry r.example --tag t1 --push
    python images/build.py --only distill,eval --build-arg TENSORRT=1
    python images/build.py --push --dry-run                  # print the docker commands, run nothing

Each image is `docker build -f <dockerfile> -t <registry>/<name>:<tag> .` from the repository root (the build
context every Dockerfile expects), then, with --push, `docker push <registry>/<name>:<tag>`.
The registry and tag come from, in order: --registry/--tag, the environment (MCM_IMAGE_REGISTRY, MCM_IMAGE_TAG),
images.yaml. An empty value counts as unset, so `make images REGISTRY= TAG=` falls through to the next source.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "images" / "images.yaml"
ENV_REGISTRY = "MCM_IMAGE_REGISTRY"
ENV_TAG = "MCM_IMAGE_TAG"


def load_config(path: Path = CONFIG) -> dict:
    """images.yaml as a dict: registry, tag and images (step -> name, dockerfile, gpu)."""
    config = yaml.safe_load(path.read_text())
    for key in ("registry", "tag", "images"):
        if not config.get(key):
            raise ValueError(f"{path}: `{key}` is missing or empty")
    for step, image in config["images"].items():
        missing = {"name", "dockerfile"} - set(image)
        if missing:
            raise ValueError(f"{path}: image `{step}` lacks {sorted(missing)}")
    return config


def first_set(*values: str | None) -> str | None:
    """The first value that is neither None nor empty (an empty REGISTRY= from make means unset)."""
    return next((value for value in values if value), None)


def commands(config: dict, registry: str, tag: str, steps: list[str], push: bool,
             build_args: list[str]) -> list[list[str]]:
    """The docker commands, in order: for each step its build, then (with push) its push."""
    out = []
    for step in steps:
        image = config["images"][step]
        ref = f"{registry.rstrip('/')}/{image['name']}:{tag}"
        build = ["docker", "build", "-f", image["dockerfile"], "-t", ref]
        for build_arg in build_args:
            build += ["--build-arg", build_arg]
        out.append(build + ["."])
        if push:
            out.append(["docker", "push", ref])
    return out


def parse_args(argv: list[str] | None, steps: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # nargs="?": `--registry --tag t1` (an empty $(REGISTRY) in the Makefile) leaves the registry unset.
    parser.add_argument("--registry", nargs="?", const="", help=f"registry (default: ${ENV_REGISTRY}, images.yaml)")
    parser.add_argument("--tag", nargs="?", const="", help=f"tag (default: ${ENV_TAG}, images.yaml)")
    parser.add_argument("--only", default="", help=f"comma-separated steps to build, of: {','.join(steps)}")
    parser.add_argument("--push", action="store_true", help="push each image after building it")
    parser.add_argument("--dry-run", action="store_true", help="print the commands one per line; run nothing")
    parser.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every docker build (e.g. TENSORRT=1); repeatable")
    args = parser.parse_args(argv)
    args.steps = [step.strip() for step in args.only.split(",") if step.strip()] or steps
    unknown = [step for step in args.steps if step not in steps]
    if unknown:
        parser.error(f"--only: unknown step(s) {','.join(unknown)}; allowed: {','.join(steps)}")
    for build_arg in args.build_arg:
        if "=" not in build_arg:
            parser.error(f"--build-arg {build_arg!r}: expected KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    config = load_config()
    args = parse_args(argv, list(config["images"]))
    registry = first_set(args.registry, os.environ.get(ENV_REGISTRY), config["registry"])
    tag = first_set(args.tag, os.environ.get(ENV_TAG), str(config["tag"]))
    planned = commands(config, registry, tag, args.steps, args.push, args.build_arg)
    if args.dry_run:
        for command in planned:
            print(shlex.join(command))
        return 0
    if shutil.which("docker") is None:
        print("build.py: docker not found on PATH (use --dry-run to print the commands)", file=sys.stderr)
        return 127
    for command in planned:
        print("+ " + shlex.join(command), flush=True)
        result = subprocess.run(command, cwd=ROOT)
        if result.returncode != 0:
            print(f"build.py: `{shlex.join(command)}` failed with exit code {result.returncode}", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
