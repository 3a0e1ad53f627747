"""Cache keys of a reproduction's runs: a finished run is reused only while its key is unchanged.

A run's key hashes (sha256, as JSON with sorted keys):

* each stage's resolved training config (:class:`mcm.config.schema.MCMConfig`, paths as written) with the
  training seed, and the content of every file it reads: the teacher's weights, the discriminator's
  backbone, the video and image shards;
* the evaluation: the eval section (seed, batch, protocol thresholds), the evaluation networks, the clean
  image set's table, each prompt file and its reference clips (all by content), the prompt limit and steps;
* the code version: the content of the library's Python files that decide the numbers (``CODE_PARTS``: the
  packages the distill and eval verbs run, and those verbs), so that adding an unrelated module (export,
  serving, the pipeline's components) or editing the report writers keeps every finished run valid.

Content hashes of folders are computed once per process (:class:`Digests`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from mcm.eval.baseline_cache import content_digest

KEY_CHARS = 16
#: Parts of the mcm package (relative to it: a folder ending in "/" or a file) whose code decides the numbers
#: of a training run and its evaluation, and files inside them that only write reports.
CODE_PARTS = ("config/", "data/", "discriminator/", "distill/", "eval/", "motion/", "runs/", "sampler/", "student/",
              "teachers/", "trainer/", "trajectories/", "utils/", "world/", "cli/distill.py", "cli/eval.py",
              "cli/yaml_args.py")
CODE_EXCLUDED = ("eval/overview.py", "eval/report.py")


def digest_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _in(rel: str, parts: tuple[str, ...]) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in parts)


def code_version(package_dir: Path | None = None) -> str:
    """sha256 of the names and bytes of the Python files of ``CODE_PARTS`` (``CODE_EXCLUDED`` left out)."""
    root = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if not _in(rel, CODE_PARTS) or _in(rel, CODE_EXCLUDED):
            continue
        h.update(rel.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class Digests:
    """Content digests of paths, each computed once (``None`` for a path that does not exist)."""

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def of(self, path: str | Path | None) -> str | None:
        if path is None:
            return None
        key = str(Path(path))
        if key not in self._cache:
            self._cache[key] = content_digest([Path(path)]) if Path(path).exists() else None
        return self._cache[key]

    def of_all(self, paths: Iterable[str | Path | None]) -> list[str | None]:
        return [self.of(p) for p in paths]


def training_desc(config_dump: dict[str, Any], digests: Digests) -> dict[str, Any]:
    """The key part of one training stage: its resolved config and the content of what it reads."""
    teacher = config_dump.get("teacher", {})
    disc = config_dump.get("discriminator", {})
    data, images = config_dump.get("data", {}), config_dump.get("images", {})
    cfg = json.loads(json.dumps(config_dump, default=str))
    cfg.get("two_stage", {}).pop("init_from", None)  # a folder of this run: the previous stage's key covers it
    return {
        "config": cfg,
        "teacher_weights": digests.of(teacher.get("path")),
        "motion_adapter": digests.of(teacher.get("motion_adapter_path")),
        "backbone": digests.of(disc.get("backbone")) if disc.get("enabled") else None,
        "videos": digests.of(data.get("path")) if data.get("source") in ("shards", "csv") else None,
        "images": digests.of(images.get("path")) if images.get("source") in ("shards", "csv") else None,
    }


def run_key(parts: dict[str, Any]) -> str:
    """The short key of a run from its described parts (training stages, evaluation, code version)."""
    return digest_json(parts)[:KEY_CHARS]
