"""What the components' bodies share: writing a step's config section to YAML, calling the ``mcm`` CLI, copying
folders between artifacts, and turning the run overview into one self-contained HTML file for the Kubeflow UI.

Component bodies import this module at run time (it is on ``PYTHONPATH`` in every step image and under kfp.local),
so it must stay light: no torch, no kfp imports at module level.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml


class StepFailed(RuntimeError):
    """An ``mcm`` command of a step exited non-zero; the message ends with what it printed last."""


def restore_ints(value: Any) -> Any:
    """``value`` with every integral float turned back into an int. A dict parameter travels through KFP as a
    protobuf Struct, whose only number type is double: params.yaml's ``max_batch: 8`` arrives as ``8.0``, which a
    CLI flag or a strict int field would refuse. A float field accepts the int, so the round trip is lossless."""
    if isinstance(value, dict):
        return {k: restore_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_config(section: dict[str, Any], name: str = "config") -> str:
    """Write a config section (integral numbers restored) to a fresh YAML file; its path (``--config FILE``)."""
    folder = Path(tempfile.mkdtemp(prefix=f"mcm-{name}-"))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(restore_ints(section), sort_keys=False), encoding="utf-8")
    return str(path)


def mcm(args: Sequence[str], launcher: Sequence[str] = ()) -> None:
    """Run ``mcm ARGS`` and raise :class:`StepFailed` naming the command when it fails.

    Without a ``launcher`` the CLI runs in this process (``mcm.cli.main.main``): a step that calls several verbs
    (evaluation: two ``eval`` and a ``report``) imports torch, diffusers and transformers once instead of once per
    verb, which is most of a small step's time. With one (``torchrun ...``) it runs as ``LAUNCHER -m
    mcm.cli.main ARGS``, its output streamed into the step's log."""
    args = [str(a) for a in args]
    if not launcher:
        from mcm.cli.main import main

        print("+ mcm " + " ".join(args), flush=True)
        try:
            code = main(args)
        except SystemExit as exc:  # argparse: a bad flag
            code = exc.code if isinstance(exc.code, int) else 2
        if code != 0:
            raise StepFailed(f"mcm {args[0]} exited {code} (its error is printed above)")
        return
    cmd = [*launcher, "-m", "mcm.cli.main", *args]
    print("+ " + " ".join(cmd), flush=True)
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line.rstrip()])[-5:]
        code = proc.wait()
    if code != 0:
        raise StepFailed(f"mcm {args[0]} exited {code}: " + " | ".join(t for t in tail if t))


def copy_tree(src: str | Path, dst: str | Path, skip: Iterable[str] = ()) -> Path:
    """Copy the folder ``src`` into ``dst`` (created; existing files replaced), leaving out top-level ``skip``."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name in skip:
            continue
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    return dst


def relative_input(config: dict[str, Any], key: str = "input", root_key: str = "root") -> str:
    """The input table's path relative to its root folder (``data/world/videos.csv`` under ``data/world`` ->
    ``videos.csv``), so the table is found in a world artifact wherever the artifact lives."""
    table, root = Path(config[key]), Path(config.get(root_key) or ".")
    try:
        return table.relative_to(root).as_posix()
    except ValueError:
        return table.name


def inline_html(page: str | Path) -> str:
    """The HTML page with every local ``<img src>`` turned into a data URI (the Kubeflow UI shows one file)."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")

    def embed(match: re.Match) -> str:
        quote, src = match.group(1), match.group(2)
        path = (page.parent / src).resolve()
        if src.startswith(("data:", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode()
        return f"src={quote}data:{mime};base64,{data}{quote}"

    return re.sub(r"src=(['\"])([^'\"]+)\1", embed, text)


def headline_rows(metrics_json: str | Path, keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per evaluated method of an ``mcm eval`` metrics.json: method, steps and the chosen metrics."""
    doc = json.loads(Path(metrics_json).read_text())
    return [{"method": r["method"], "steps": r["steps"], **{k: r["metrics"].get(k) for k in keys}}
            for r in doc["results"]]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
