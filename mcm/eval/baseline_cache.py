"""Teacher-baseline results computed once per key and reused: a rerun evaluates only the student.

A method spec without a student ``checkpoint`` is a teacher baseline (DDIM / DPM++ of a preset's teacher); so is
the *untrained student* (a checkpoint with ``lora: false``: the teacher's weights sampled with the run's LCM
settings, the same for every run of one teacher and sampler). Its numbers depend only on what the key hashes:

* the generator arguments and steps, the teacher's resolved config and the *content* of its weight files (the
  untrained student: the run's teacher and its sampler settings, not the run's path or LoRA);
* the prompt set: its config, the content of its file and of its reference clips;
* ``seed``, ``num_videos``, ``grid_prompts``, ``gif_fps`` and ``frechet_method``;
* the metric protocol: its section with every file it names replaced by the content of the files
  (the toy protocol: the evaluation networks and the image set M);
* :data:`CACHE_VERSION`, bumped when a metric's code changes what it returns.

Not in the key, on purpose: the device, the batch sizes and the number of ranks (they move the last float
digits, not the outcomes), and the method's row label. An entry is a folder ``<dir>/<key>/`` holding
``result.json`` (the result of :func:`mcm.eval.runner.evaluate_method` plus the key's description) and the grid
GIFs; entries are written atomically (a temporary folder renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterable, Optional

from mcm.eval.config import EvalConfig, MethodSpec
from mcm.eval.grid import grid_file
from mcm.eval.prompts import PromptSet

#: Bump when a metric's computation changes (every cached entry then misses).
CACHE_VERSION = 1
RESULT_FILE = "result.json"
KEY_CHARS = 24
log = logging.getLogger(__name__)


def content_digest(paths: Iterable[Path]) -> str:
    """sha256 of the names and bytes of ``paths`` (a folder stands for every file under it, sorted)."""
    h = hashlib.sha256()
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            h.update(f.read_bytes() if f.is_file() else b"<missing>")
    return h.hexdigest()


#: The settings of a student's LCM sampler (mcm.sampler.lcm.build_lcm_scheduler): all an untrained student's
#: videos depend on besides the teacher.
SAMPLER_FIELDS = {"num_ddim_timesteps", "timestep_scaling", "sigma_data"}


def is_baseline(spec: MethodSpec) -> bool:
    """A teacher baseline: the spec samples a preset's teacher, or a student checkpoint with its LoRA off (the
    untrained student), not a trained student."""
    if "checkpoint" in spec.generator:
        return spec.generator.get("lora") is False
    return "teacher" in spec.generator


def _teacher_desc(spec: MethodSpec) -> dict[str, Any]:
    from mcm.config.load import load_config

    gen = dict(spec.generator)
    if "checkpoint" in gen:  # the untrained student: the run's teacher and sampler, not its path or LoRA
        from mcm.sampler.student import student_config

        cfg = student_config(str(gen.pop("checkpoint")))
        distill = cfg.distill.model_dump(mode="json", include=SAMPLER_FIELDS)
    else:
        cfg = load_config(str(gen.pop("teacher")), tuple(gen.pop("overrides", ())))
        distill = cfg.distill.model_dump(mode="json")
    teacher = cfg.teacher.model_dump(mode="json")
    path = Path(str(cfg.teacher.path or ""))
    weights = content_digest([path]) if cfg.teacher.path and path.exists() else None
    return {"teacher": teacher, "weights": weights, "generator": gen, "steps": spec.steps,
            "data": cfg.data.model_dump(mode="json", include={"num_frames", "height", "width"}),
            "distill": distill}


def _protocol_desc(cfg: EvalConfig) -> dict[str, Any]:
    if cfg.protocol == "toy":
        from mcm.eval.toy import read_image_set

        toy = cfg.toy.model_dump(mode="json", exclude={"batch_size", "networks", "images", "image_root"})
        if cfg.toy.networks_seed is None:
            toy["networks"] = content_digest([Path(cfg.toy.networks)])
        toy["images"] = content_digest(read_image_set(cfg.toy)) if cfg.toy.images is not None else None
        return {"toy": toy}
    desc = {}
    for name in ("fvd", "motion", "clipsim", "fid"):
        section = getattr(cfg, name).model_dump(mode="json", exclude={"batch_size"})
        for key, value in list(section.items()):
            if isinstance(value, str) and Path(value).exists():
                section[key] = content_digest([Path(value)])
        desc[name] = section
    return desc


def evaluation_desc(cfg: EvalConfig, prompt_set: PromptSet) -> dict[str, Any]:
    """The part of every baseline's key that the evaluation fixes: prompt set, run settings, protocol (the
    content hashes of its files are read once per evaluation, not once per method spec)."""
    prompts = cfg.prompts.model_dump(mode="json", exclude={"path", "video_root"})
    return {
        "version": CACHE_VERSION,
        "prompts": {**prompts, "file": content_digest([Path(cfg.prompts.path)]),
                    "references": content_digest(prompt_set.reference_videos), "count": len(prompt_set)},
        "run": {"seed": cfg.seed, "num_videos": cfg.num_videos, "grid_prompts": cfg.grid_prompts,
                "gif_fps": cfg.gif_fps, "frechet_method": cfg.frechet_method},
        "protocol": {"name": cfg.protocol, **_protocol_desc(cfg)},
    }


def baseline_key(spec: MethodSpec, cfg: EvalConfig, prompt_set: PromptSet,
                 shared: Optional[dict[str, Any]] = None) -> tuple[str, dict[str, Any]]:
    """(key, description) of a teacher baseline's result (see the module docstring for what is hashed);
    ``shared`` is :func:`evaluation_desc` when the caller already has it."""
    desc = {**(shared if shared is not None else evaluation_desc(cfg, prompt_set)), "method": _teacher_desc(spec)}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:KEY_CHARS], desc


class BaselineCache:
    """Lookup and storage of teacher-baseline results of one evaluation (``cfg.baseline_cache``)."""

    def __init__(self, cfg: EvalConfig, prompt_set: PromptSet) -> None:
        self.cfg, self.prompt_set = cfg, prompt_set
        c = cfg.baseline_cache
        self.write_dir = Path(c.write_dir) if c.write_dir is not None else cfg.out_dir / "baseline_cache"
        self.dirs = [Path(d) for d in c.dirs] + [self.write_dir]
        self._shared: Optional[dict[str, Any]] = None
        self._keys: dict[str, tuple[str, dict[str, Any]]] = {}

    def key(self, spec: MethodSpec) -> tuple[str, dict[str, Any]]:
        """(key, description) of ``spec``, the evaluation's shared part hashed once."""
        if spec.key not in self._keys:
            if self._shared is None:
                self._shared = evaluation_desc(self.cfg, self.prompt_set)
            self._keys[spec.key] = baseline_key(spec, self.cfg, self.prompt_set, self._shared)
        return self._keys[spec.key]

    def applies(self, spec: MethodSpec) -> bool:
        return self.cfg.baseline_cache.enabled and is_baseline(spec)

    def load(self, spec: MethodSpec) -> Optional[dict[str, Any]]:
        """The cached result of ``spec`` with its grid GIFs copied into ``out_dir``, or None on a miss."""
        key, _ = self.key(spec)
        for d in self.dirs:
            entry = d / key
            if not (entry / RESULT_FILE).is_file():
                continue
            result = json.loads((entry / RESULT_FILE).read_text())
            result.update(method=spec.method, key=spec.key, generator=spec.generator)
            files = []
            for i, stored in enumerate(result.get("cached_grid_files", [])):
                target = grid_file(spec, i)
                (self.cfg.out_dir / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(entry / stored, self.cfg.out_dir / target)
                files.append(target)
            result["grid_files"] = files
            result["cache"] = {"key": key, "dir": str(d)}
            log.info("%s: cached result %s", spec.key, entry)
            return result
        return None

    def store(self, spec: MethodSpec, result: dict[str, Any]) -> Path:
        """Write ``result`` (and its grid GIFs from ``out_dir``) as the entry of ``spec``; returns its folder."""
        key, desc = self.key(spec)
        entry = self.write_dir / key
        tmp = self.write_dir / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        stored = []
        for i, rel in enumerate(result.get("grid_files", [])):
            name = f"grid_{i:04d}.gif"
            shutil.copyfile(self.cfg.out_dir / rel, tmp / name)
            stored.append(name)
        doc = {k: v for k, v in result.items() if k not in ("grid_files", "cache")}
        doc.update(cached_grid_files=stored, cache_key=desc)
        (tmp / RESULT_FILE).write_text(json.dumps(doc, indent=1) + "\n")
        shutil.rmtree(entry, ignore_errors=True)
        tmp.replace(entry)
        return entry
