"""``make toy-assets``: train every network of the small world from fixed seeds, in order, resumably.

Output (``assets/toy`` by default; each part written atomically, a complete part is kept on rerun)::

    teacher/        a diffusers ModelScope pipeline folder: tokenizer (word-level CLIP), text_encoder (small
                    CLIP text model), vae (AutoencoderKL), unet (UNet3DConditionModel), scheduler (DDIM),
                    model_index.json; the ModelScope loader (teacher.kind=modelscope, teacher.path=...) reads it
    backbone/       the discriminator's self-supervised DINOv2-architecture backbone (transformers folder)
    eval/           the evaluation's networks (attributes, FVD video net, frame features, watermark, style)
    MANIFEST.json   sizes, sha256 of every weight file, seeds, thread count, time per part

Determinism: every part is a function of its config, seed and the thread count (``threads``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from mcm.config.base import StrictConfig
from mcm.world.backbone_ssl import BackboneTrainConfig, train_backbone
from mcm.world.evalnets import EvalNetTrainConfig, train_eval_networks
from mcm.world.sets import WorldConfig
from mcm.world.teacher import TeacherTrainConfig, scheduler_config, train_teacher
from mcm.world.text_encoder import TextTrainConfig, train_text_encoder
from mcm.world.tokenizer import build_world_tokenizer
from mcm.world.train_utils import Log, read_record
from mcm.world.vae import VAETrainConfig, train_vae

DEFAULT_ASSETS = Path("assets/toy")
MANIFEST_FILE = "MANIFEST.json"
#: Size limits of the issue: each model, and all together (bytes).
MODEL_LIMIT_BYTES = 10 * 2**20
TOTAL_LIMIT_BYTES = 30 * 2**20
PARTS = ("text_encoder", "vae", "teacher", "backbone", "eval")


class ToyAssetsConfig(StrictConfig):
    """Everything ``make toy-assets`` trains, with its seeds."""

    world: WorldConfig = Field(default_factory=WorldConfig, description="The world the networks learn.")
    threads: int = Field(1, ge=1, description="torch threads (results are deterministic per thread count).")
    text: TextTrainConfig = Field(default_factory=TextTrainConfig, description="Text encoder.")
    vae: VAETrainConfig = Field(default_factory=lambda: VAETrainConfig(
        block_out_channels=(16, 32, 64), norm_num_groups=8, steps=2000, batch_size=32, lr=2e-3, warmup_steps=100),
        description="VAE.")
    teacher: TeacherTrainConfig = Field(default_factory=lambda: TeacherTrainConfig(steps=3000, causal_temporal=True),
                                        description="Teacher UNet (causal temporal kernels: mcm.world.teacher).")
    backbone: BackboneTrainConfig = Field(default_factory=BackboneTrainConfig, description="Discriminator backbone.")
    eval: EvalNetTrainConfig = Field(default_factory=EvalNetTrainConfig, description="Evaluation networks.")


def _model_index() -> dict[str, Any]:
    return {"_class_name": "TextToVideoSDPipeline", "_diffusers_version": "0.42.1",
            "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet3DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]}


def weight_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*.safetensors"))}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def part_complete(name: str, out: Path) -> bool:
    """Whether a part's folder is complete (then its trainer keeps it)."""
    from mcm.world import backbone_ssl, evalnets
    from mcm.world.train_utils import is_complete

    if name == "backbone":
        return backbone_ssl.is_complete(out / "backbone")
    if name == "eval":
        return all(evalnets.network_complete(out / "eval", n) for n in evalnets.TRAIN_ORDER)
    return is_complete(out / "teacher" / {"teacher": "unet"}.get(name, name))


def build_toy_assets(out: str | Path = DEFAULT_ASSETS, cfg: ToyAssetsConfig | None = None, log: Log = print,
                     parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Train the parts named in ``parts`` that are not complete yet, then write the manifest."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextModel

    cfg = cfg or ToyAssetsConfig()
    out = Path(out)
    teacher_dir, work = out / "teacher", out / "work"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    times: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):
        """Run a part's trainer; its time is recorded only when it trained (a complete part is kept)."""
        t0 = time.perf_counter()
        before = part_complete(name, out)
        result = fn(*args, **kwargs)
        if not before:
            times[name] = time.perf_counter() - t0
        return result

    tokenizer = build_world_tokenizer()
    if "text_encoder" in parts or "teacher" in parts:
        timed("text_encoder", train_text_encoder, teacher_dir / "text_encoder", tokenizer, cfg.text, log)
    if "vae" in parts or "teacher" in parts:
        timed("vae", train_vae, cfg.world, teacher_dir / "vae", cfg.vae, log)
    if "teacher" in parts:
        vae = AutoencoderKL.from_pretrained(teacher_dir / "vae").eval()
        text_encoder = CLIPTextModel.from_pretrained(teacher_dir / "text_encoder").eval()
        timed("teacher", train_teacher, cfg.world, teacher_dir / "unet", work / "teacher", vae, text_encoder,
              tokenizer, cfg.teacher, log)
        tokenizer.save_pretrained(teacher_dir / "tokenizer")
        DDIMScheduler(**scheduler_config(cfg.teacher)).save_pretrained(teacher_dir / "scheduler")
        (teacher_dir / "model_index.json").write_text(json.dumps(_model_index(), indent=1) + "\n")
    if "backbone" in parts:
        timed("backbone", train_backbone, cfg.world, out / "backbone",
              cfg.backbone.model_copy(update={"num_threads": cfg.threads}), log=log)
    if "eval" in parts:
        timed("eval", train_eval_networks, cfg.world, out / "eval", cfg.eval.model_copy(update={"threads": cfg.threads}),
              log=log)
    return write_manifest(out, cfg, times)


def write_manifest(out: Path, cfg: ToyAssetsConfig, times: dict[str, float]) -> dict[str, Any]:
    """Sizes and hashes of every weight file; training seconds of each part (kept from earlier runs)."""
    path = out / MANIFEST_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    seconds = dict(old.get("seconds", {}))
    seconds.update({k: round(v, 1) for k, v in times.items()})
    trained = (("text_encoder", "teacher/text_encoder"), ("vae", "teacher/vae"), ("teacher", "teacher/unet"),
               ("backbone", "backbone"))
    for name, folder in trained:
        if name not in seconds and (out / folder / "training.json").is_file():  # trained by an earlier call
            rec = read_record(out / folder)
            seconds[name] = round(rec.get("seconds", rec.get("seconds_this_run", 0.0)), 1)
    files = {}
    for p in sorted(out.rglob("*.safetensors")):
        if p.relative_to(out).parts[0] != "work":  # training checkpoints and snapshots are not shipped
            files[str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": sha256(p)}
    models = {}
    for name, folder in (("text_encoder", "teacher/text_encoder"), ("vae", "teacher/vae"), ("unet", "teacher/unet"),
                         ("backbone", "backbone"), ("eval", "eval")):
        size = sum(v["bytes"] for k, v in files.items() if k.startswith(folder + "/"))
        if size:
            models[name] = size
    doc = {
        "config": cfg.model_dump(mode="json"), "threads": cfg.threads, "files": files, "model_bytes": models,
        "total_bytes": sum(v["bytes"] for v in files.values()), "seconds": seconds,
        "limits": {"model_bytes": MODEL_LIMIT_BYTES, "total_bytes": TOTAL_LIMIT_BYTES},
        "records": {k: _record_summary(out / f) for k, f in (("text_encoder", "teacher/text_encoder"),
                                                              ("vae", "teacher/vae"), ("unet", "teacher/unet"),
                                                              ("backbone", "backbone"))
                    if (out / f / "training.json").is_file()},
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return doc


def _record_summary(folder: Path) -> dict[str, Any]:
    rec = read_record(folder)
    curve = rec.get("loss_curve") or []
    last = curve[-1] if curve else None
    return {k: v for k, v in rec.items() if k not in ("config", "loss_curve")} | {
        "final_loss": (last[1] if isinstance(last, (list, tuple)) else last)}
