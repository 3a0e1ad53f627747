"""A distilled student in the formats stock diffusers loads (``mcm export --format diffusers``).

* ModelScope teachers (``modelscope``, ``tiny_modelscope``): UNet3DConditionModel has no LoRA loader, so the
  LoRA is merged into the UNet and a whole ``TextToVideoSDPipeline`` folder is written (``model_index.json``,
  text encoder, tokenizer, VAE, merged UNet, scheduler). ``TextToVideoSDPipeline.from_pretrained(OUT)`` then
  samples the student with ``guidance_scale=1`` (the guidance was distilled in).
* AnimateDiff teachers (``animatediff``, ``tiny_animatediff``): ``pytorch_lora_weights.safetensors``, the LoRA in
  the peft key layout diffusers' ``load_lora_weights`` reads (``unet.<module>.lora_A.weight``), with the LoRA
  scaling alpha / r folded into ``lora_B`` (diffusers assumes alpha = r without alpha entries), plus the
  scheduler folder; the user loads the teacher's own pipeline and calls ``load_lora_weights(OUT)``.
  One wrinkle: diffusers' motion modules call ``proj_in(input=...)`` / ``proj_out(input=...)`` by keyword, which
  peft's LoRA layers do not accept, so a stock pipeline with LoRA on those layers fails. Their LoRA is merged
  into a copy of the motion adapter instead (``motion_adapter/``, loaded with ``MotionAdapter.from_pretrained``)
  and left out of the LoRA file; every other layer's LoRA stays a LoRA.

Both get ``scheduler/``: ``LCMScheduler`` with the training's timestep scaling and skip grid
(``original_inference_steps``), so the stock scheduler samples with the boundary scalings of Eq. (1) the
student was trained with; and a model card (``README.md``) naming the teacher, its licence, and how the student
was made.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import save_file

from mcm.config.schema import MCMConfig
from mcm.teachers.base import Teacher

LORA_FILE = "pytorch_lora_weights.safetensors"
SCHEDULER_DIR = "scheduler"
MODEL_CARD = "README.md"
EXPORT_INFO = "mcm_export.json"
MODELSCOPE_KINDS = ("modelscope", "tiny_modelscope")
ANIMATEDIFF_KINDS = ("animatediff", "tiny_animatediff")
#: Licences of the teachers' weights, as their model cards state them (the card repeats them).
TEACHER_LICENCES = {
    "modelscope": "CC-BY-NC-4.0 (ModelScopeT2V, ali-vilab/text-to-video-ms-1.7b): research and non-commercial use only",
    "animatediff": "the licences of the Stable Diffusion 1.5 base model (CreativeML OpenRAIL-M) and of the AnimateDiff "
                   "motion adapter (Apache-2.0, guoyww/animatediff)",
}


ADAPTER_DIR = "motion_adapter"
#: Modules diffusers calls with the ``input=`` keyword (peft's LoRA forward takes ``x``): merged, not LoRA.
KEYWORD_CALLED = re.compile(r".*motion_modules\.\d+\.proj_(in|out)$")


def lora_for_diffusers(network: torch.nn.Module, alpha: float, rank: int,
                       skip: Optional[re.Pattern] = None) -> dict[str, torch.Tensor]:
    """The student's LoRA as ``unet.<module>.lora_A/B.weight`` tensors, ``alpha / rank`` folded into B
    (modules whose name matches ``skip`` left out)."""
    from peft.tuners.lora import LoraLayer

    scale = alpha / rank
    state: dict[str, torch.Tensor] = {}
    for name, module in network.named_modules():
        if not isinstance(module, LoraLayer) or (skip is not None and skip.fullmatch(name)):
            continue
        for adapter in module.lora_A:
            state[f"unet.{name}.lora_A.weight"] = module.lora_A[adapter].weight.detach().float().contiguous()
            state[f"unet.{name}.lora_B.weight"] = (module.lora_B[adapter].weight.detach().float() * scale).contiguous()
    if not state:
        raise ValueError("the student network has no LoRA layers to export")
    return state


def merged_motion_adapter(network: torch.nn.Module, adapter: torch.nn.Module, pattern: re.Pattern) -> torch.nn.Module:
    """A copy of the motion adapter whose layers matching ``pattern`` carry the student's merged LoRA
    (W + scale B A); the UNetMotionModel and the MotionAdapter name their motion modules alike."""
    import copy

    from peft.tuners.lora import LoraLayer

    merged = copy.deepcopy(adapter)
    own = dict(merged.named_modules())
    done = 0
    for name, module in network.named_modules():
        if isinstance(module, LoraLayer) and pattern.fullmatch(name):
            if name not in own:
                raise ValueError(f"motion adapter has no module {name!r} to merge the student's LoRA into")
            base = module.get_base_layer().weight.detach()
            delta = module.get_delta_weight(next(iter(module.lora_A)))
            own[name].weight.data.copy_(base + delta)
            done += 1
    if not done:
        raise ValueError("no keyword-called motion layer carries a LoRA: nothing to merge")
    return merged


def model_card(cfg: MCMConfig, source: str, kind: str) -> str:
    family = "modelscope" if kind in MODELSCOPE_KINDS else "animatediff"
    d = cfg.distill
    made = (f"Distilled from the teacher with the Motion Consistency Model method (Zhai et al., 2024) by `mcm`: "
            f"LoRA rank {cfg.student.lora_rank}, motion representation `{cfg.motion.name}`, "
            f"{'an image discriminator (lambda_adv ' + str(d.lambda_adv) + ')' if cfg.discriminator.enabled else 'no discriminator'}, "
            f"lambda_real {d.lambda_real}, {cfg.optim.max_steps} updates of batch {cfg.optim.global_batch}, DDIM skip grid "
            f"N = {d.num_ddim_timesteps}, timestep scaling {d.timestep_scaling}, guidance w in "
            f"[{cfg.teacher.guidance_min}, {cfg.teacher.guidance_max}] distilled in.")
    use = ("```python\nfrom diffusers import TextToVideoSDPipeline\npipe = TextToVideoSDPipeline.from_pretrained(PATH)\n"
           "frames = pipe(prompt, num_inference_steps=4, guidance_scale=1.0).frames\n```"
           if family == "modelscope" else
           "```python\nfrom diffusers import AnimateDiffPipeline, LCMScheduler, MotionAdapter\n"
           "pipe = AnimateDiffPipeline.from_pretrained(SD15, motion_adapter=MotionAdapter.from_pretrained(PATH, subfolder="
           "'motion_adapter'))\n"
           "# the student's motion adapter (its proj_in / proj_out LoRA merged in), then the LoRA of every other layer\n"
           "pipe.scheduler = LCMScheduler.from_pretrained(PATH, subfolder='scheduler')\n"
           f"pipe.load_lora_weights(PATH, weight_name='{LORA_FILE}')\n"
           "frames = pipe(prompt, num_inference_steps=4, guidance_scale=1.0).frames\n```")
    licence = TEACHER_LICENCES[family] if not kind.startswith("tiny") else \
        "a random tiny test teacher (no licence restrictions)"
    return (f"# MCM student of `{cfg.teacher.path or kind}`\n\n"
            f"- Teacher: `{kind}` from `{cfg.teacher.path or '(built from config)'}`.\n"
            f"- Teacher licence: {licence}. The student is a derivative of the teacher's weights and carries its "
            f"licence.\n- How it was made: {made}\n- Source run: `{source}`.\n"
            "- Sample with 1-8 steps and `guidance_scale=1` (the guidance is distilled in; CFG would double the "
            "cost and over-saturate).\n\n" + use + "\n")


def export_diffusers(teacher: Teacher, cfg: MCMConfig, out: str | Path, source: str = "") -> dict[str, Any]:
    """Write the student (teacher with its LoRA enabled) for stock diffusers into ``out``; returns a summary."""
    from mcm.sampler.lcm import build_lcm_scheduler
    from mcm.student.lora import merge_lora

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kind = cfg.teacher.kind
    scheduler = build_lcm_scheduler(teacher, cfg.distill)
    if kind in MODELSCOPE_KINDS:
        from diffusers import TextToVideoSDPipeline

        unet = merge_lora(teacher.network)
        pipe = TextToVideoSDPipeline(vae=teacher.vae, text_encoder=teacher.text_encoder, tokenizer=teacher.tokenizer,
                                     unet=unet, scheduler=scheduler)
        pipe.save_pretrained(out, safe_serialization=True)
        files = ["model_index.json", "unet", "vae", "text_encoder", "tokenizer", SCHEDULER_DIR]
    elif kind in ANIMATEDIFF_KINDS:
        state = lora_for_diffusers(teacher.network, cfg.student.lora_alpha, cfg.student.lora_rank, KEYWORD_CALLED)
        save_file(state, str(out / LORA_FILE), metadata={"format": "pt", "mcm": "student LoRA (peft keys)"})
        merged_motion_adapter(teacher.network, teacher.components["motion_adapter"], KEYWORD_CALLED).save_pretrained(
            out / ADAPTER_DIR, safe_serialization=True)
        scheduler.save_pretrained(out / SCHEDULER_DIR)
        files = [LORA_FILE, ADAPTER_DIR, SCHEDULER_DIR]
    else:
        raise ValueError(f"teacher.kind={kind!r}: the diffusers export supports {MODELSCOPE_KINDS + ANIMATEDIFF_KINDS}")
    (out / MODEL_CARD).write_text(model_card(cfg, source, kind))
    info = {"format": "diffusers", "teacher_kind": kind, "teacher_path": cfg.teacher.path, "source": source,
            "files": files + [MODEL_CARD], "scheduler": dict(scheduler.config)}
    (out / EXPORT_INFO).write_text(json.dumps(info, indent=1, default=str) + "\n")
    return info
