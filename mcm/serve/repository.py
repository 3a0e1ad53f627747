"""A Triton model repository from an exported student (``mcm serve repository``).

    text_encoder/   input_ids INT64 [L]              -> text_states FP32 [L, D]
    unet/           sample FP32 [C, F, h, w], timestep INT64 [1] (one per item), text_states
                    -> noise_pred FP32 [C, F, h, w]
    vae_decoder/    latents FP32 [C, h, w] (divided by the VAE's scaling factor) -> pixels FP32 [3, H, W]
    student/        PROMPT BYTES [1], STEPS INT32 [1], SEED INT64 [1], FRAMES INT32 [1] (optional)
                    -> VIDEO UINT8 [F, H, W, 3]      (Python backend: the LCM loop, calling the three above)
    teacher_unet/   the teacher's UNet (the LoRA disabled), when the export has it
    teacher/        + GUIDANCE FP32 [1] (optional): the teacher's guided DDIM at 1-50 steps, the baseline

The part models use ``backend``: ``python`` (onnxruntime inside a Python-backend model: the only backend of the
nvidia-pytriton wheel's tritonserver, used by the tests), ``onnxruntime`` (Triton's ONNX Runtime backend) or
``tensorrt`` (``model.plan`` engines built from the same graphs at deploy time, images/serve). Every model has
dynamic batching; ``student`` has a bounded queue (``max_queue_size``): a request that finds it full is answered
at once with UNAVAILABLE instead of waiting.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mcm.export.onnx_parts import ONNX_DIR, PARTS_FILE

MODELS_PACKAGE = "mcm.serve.triton_models"
BACKENDS = ("python", "onnxruntime", "tensorrt")
STUDENT_MODEL = "student"
MAX_STEPS = 8
TEACHER_MODEL = "teacher"
MAX_TEACHER_STEPS = 50
PIPELINE_COMMON = "pipeline_common.py"


@dataclass
class RepositoryConfig:
    backend: str = "python"
    max_batch: int = 8               # videos per pipeline / UNet batch
    max_queue_size: int = 16         # student requests waiting; more are rejected (UNAVAILABLE)
    queue_delay_us: int = 2000       # how long the batcher waits to fill a batch
    instances: int = 1               # instances of each model
    max_prompt_chars: int = 300
    teacher_guidance_max: float = 30.0  # largest CFG scale a teacher request may ask for
    dynamic_batching: bool = True    # off: every request runs alone (bench/serve.py compares the two)
    # upper bounds (s) of mcm_generation_latency_seconds' buckets: one tiny CPU step to 50 real teacher steps
    latency_buckets_s: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r}: choose one of {', '.join(BACKENDS)}")
        for name in ("max_batch", "max_queue_size", "instances", "max_prompt_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        buckets = self.latency_buckets_s = tuple(float(b) for b in self.latency_buckets_s)
        if not buckets or any(b <= a for a, b in zip(buckets, buckets[1:])):
            raise ValueError(f"latency_buckets_s={list(self.latency_buckets_s)} must be non-empty and increasing")


def _dims(shape: list[Any]) -> str:
    return "[ " + ", ".join(str(d) for d in shape) + " ]"


def _tensor(name: str, dtype: str, dims: list[Any], optional: bool = False, scalar: bool = False) -> str:
    """One input/output entry; ``scalar``: sent as [1] per item, seen by the model as one value per item."""
    return (f'  {{ name: "{name}", data_type: {dtype}, dims: {_dims(dims)}'
            + (", reshape: { shape: [ ] }" if scalar else "") + (", optional: true" if optional else "") + " }")


def model_config(name: str, backend: str, max_batch: int, inputs: list[str], outputs: list[str], instances: int,
                 queue_delay_us: int, max_queue_size: int | None = None, batching: bool = True) -> str:
    platform = {"python": 'backend: "python"', "onnxruntime": 'platform: "onnxruntime_onnx"',
                "tensorrt": 'platform: "tensorrt_plan"'}[backend]
    queue = (f"\n  default_queue_policy {{ max_queue_size: {max_queue_size} }}" if max_queue_size else "")
    ins, outs = ",\n".join(inputs), ",\n".join(outputs)
    batcher = (f"dynamic_batching {{\n  max_queue_delay_microseconds: {queue_delay_us}{queue}\n}}\n" if batching
               else "")
    return (f'name: "{name}"\n{platform}\nmax_batch_size: {max_batch}\n'
            f"input [\n{ins}\n]\noutput [\n{outs}\n]\n{batcher}"
            f"instance_group [ {{ count: {instances}, kind: KIND_CPU }} ]\n")


def lcm_schedule(scheduler: Any, steps: int) -> dict[str, list]:
    """Per step of an ``steps``-step LCM sampling: timestep, alpha_t, alpha_prev, c_skip, c_out, exactly as
    ``LCMScheduler.step`` computes them (float32 values)."""
    scheduler.set_timesteps(steps)
    timesteps = [int(t) for t in scheduler.timesteps]
    out: dict[str, list] = {"timesteps": timesteps, "alpha": [], "alpha_prev": [], "c_skip": [], "c_out": []}
    for i, t in enumerate(scheduler.timesteps):
        prev = scheduler.timesteps[i + 1] if i + 1 < len(timesteps) else t
        out["alpha"].append(float(scheduler.alphas_cumprod[t]))
        out["alpha_prev"].append(float(scheduler.alphas_cumprod[prev] if prev >= 0 else scheduler.final_alpha_cumprod))
        c_skip, c_out = scheduler.get_scalings_for_boundary_condition_discrete(t)
        out["c_skip"].append(float(c_skip))
        out["c_out"].append(float(c_out))
    return out


def ddim_schedule(schedule: dict[str, Any], steps: int) -> dict[str, list]:
    """Per step of the teacher's ``steps``-step trailing DDIM: timestep, abar_t, abar_prev (as
    ``mcm.sampler.baselines.TrailingDDIMScheduler.step`` reads them; abar_prev = 1 after the last step)."""
    from types import SimpleNamespace

    from mcm.sampler.baselines import CLEAN_END, build_teacher_scheduler

    scheduler = build_teacher_scheduler(SimpleNamespace(schedule=schedule), "ddim")
    scheduler.set_timesteps(steps)
    out: dict[str, list] = {"timesteps": [], "alpha": [], "alpha_prev": []}
    for t in scheduler.timesteps.tolist():
        prev = scheduler.previous_timestep(t)
        out["timesteps"].append(int(t))
        out["alpha"].append(float(scheduler.alphas_cumprod[t]))
        out["alpha_prev"].append(float(scheduler.alphas_cumprod[prev]) if prev != CLEAN_END
                                 else float(scheduler.final_alpha_cumprod))
    return out


def _pipeline_model(out: Path, name: str, template: str, settings: dict[str, Any], export_dir: Path,
                    inputs: list[str], outputs: list[str], cfg: "RepositoryConfig") -> None:
    templates = resources.files(MODELS_PACKAGE)
    folder = out / name
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "schedule.json").write_text(json.dumps(settings, indent=1) + "\n")
    (folder / "1" / "model.py").write_text(templates.joinpath(template).read_text())
    (folder / "1" / PIPELINE_COMMON).write_text(templates.joinpath(PIPELINE_COMMON).read_text())
    shutil.copytree(export_dir / "tokenizer", folder / "1" / "tokenizer")
    (folder / "config.pbtxt").write_text(model_config(name, "python", cfg.max_batch, inputs, outputs, cfg.instances,
                                                      cfg.queue_delay_us, cfg.max_queue_size, cfg.dynamic_batching))


def build_repository(export_dir: str | Path, out: str | Path, cfg: RepositoryConfig | None = None) -> Path:
    """Write the model repository of the exported student in ``export_dir`` (``mcm export``: the diffusers
    folder and ``onnx/``) into ``out``; returns ``out``."""
    from diffusers import LCMScheduler

    cfg = cfg or RepositoryConfig()
    export_dir, out = Path(export_dir), Path(out)
    parts_file = export_dir / ONNX_DIR / PARTS_FILE
    if not parts_file.is_file():
        raise FileNotFoundError(f"{parts_file} not found: run `mcm export --checkpoint RUN --out {export_dir}` first")
    parts = json.loads(parts_file.read_text())
    if out.exists():
        shutil.rmtree(out)
    templates = resources.files(MODELS_PACKAGE)
    shapes = {name: part["inputs"] for name, part in parts["parts"].items()}
    # Part models use the ONNX graphs' own tensor names (Triton's onnxruntime and TensorRT backends bind by name).
    io = {
        "text_encoder": ([_tensor("input_ids", "TYPE_INT64", shapes["text_encoder"]["input_ids"][1:])],
                         [_tensor("text_states", "TYPE_FP32", [-1, -1])], 1),
        "unet": ([_tensor("sample", "TYPE_FP32", shapes["unet"]["sample"][1:]),
                  _tensor("timestep", "TYPE_INT64", [1], scalar=True),
                  _tensor("text_states", "TYPE_FP32", shapes["unet"]["text_states"][1:])],
                 [_tensor("noise_pred", "TYPE_FP32", shapes["unet"]["sample"][1:])], 1),
        "vae_decoder": ([_tensor("latents", "TYPE_FP32", shapes["vae_decoder"]["latents"][1:])],
                        [_tensor("pixels", "TYPE_FP32", [3, parts["height"], parts["width"]])], parts["frames"]),
    }
    if "teacher_unet" in parts:
        io["teacher_unet"] = (io["unet"][0], io["unet"][1], 2)  # cond + uncond of each video
        parts["parts"]["teacher_unet"] = parts["teacher_unet"]
    for name, (inputs, outputs, per_video) in io.items():
        folder = out / name
        (folder / "1").mkdir(parents=True)
        (folder / "config.pbtxt").write_text(model_config(name, cfg.backend, cfg.max_batch * per_video, inputs,
                                                          outputs, cfg.instances, cfg.queue_delay_us,
                                                          batching=cfg.dynamic_batching))
        graph = export_dir / ONNX_DIR / parts["parts"][name]["file"]
        if cfg.backend == "tensorrt":
            (folder / "1" / "README").write_text(f"model.plan is built at deploy time from {graph.name} (images/serve)\n")
            shutil.copyfile(graph, folder / "1" / graph.name)
        else:
            shutil.copyfile(graph, folder / "1" / "model.onnx")
        if cfg.backend == "python":
            (folder / "1" / "model.py").write_text(templates.joinpath("onnx_part.py").read_text())

    scheduler = LCMScheduler.from_pretrained(export_dir / "scheduler")
    c, f, h, w = shapes["unet"]["sample"][1:]
    common = {
        "frames": parts["frames"], "height": parts["height"], "width": parts["width"], "latent_shape": [c, f, h, w],
        "vae_scaling_factor": parts["vae_scaling_factor"], "max_prompt_chars": cfg.max_prompt_chars,
        "latency_buckets_s": list(cfg.latency_buckets_s), "text_max_length": shapes["text_encoder"]["input_ids"][1],
    }
    request = [_tensor("PROMPT", "TYPE_STRING", [1]), _tensor("STEPS", "TYPE_INT32", [1]),
               _tensor("SEED", "TYPE_INT64", [1]), _tensor("FRAMES", "TYPE_INT32", [1], optional=True)]
    video = [_tensor("VIDEO", "TYPE_UINT8", [parts["frames"], parts["height"], parts["width"], 3]),
             _tensor("MP4", "TYPE_STRING", [1])]  # only computed when the client asks for it
    _pipeline_model(out, STUDENT_MODEL, "student_pipeline.py",
                    {**common, "steps": {str(n): lcm_schedule(scheduler, n) for n in range(1, MAX_STEPS + 1)}},
                    export_dir, request, video, cfg)
    if "teacher_unet" in parts:
        teacher = {**common, "guidance_default": parts["teacher_unet"]["guidance"],
                   "guidance_max": cfg.teacher_guidance_max,
                   "steps": {str(n): ddim_schedule(parts["schedule"], n) for n in range(1, MAX_TEACHER_STEPS + 1)}}
        _pipeline_model(out, TEACHER_MODEL, "teacher_pipeline.py", teacher, export_dir,
                        request + [_tensor("GUIDANCE", "TYPE_FP32", [1], optional=True)], video, cfg)
    return out
