"""Tiny random-initialised teachers with the real architectures (tests, CPU runs, presets tiny/small).

They are built from configs (no hub, no files), seeded, so the same config always gives the same teacher:
a run folder's config is enough to rebuild it. ``save_teacher_folder`` writes one as a diffusers-format
folder, which the real loaders (``modelscope``, ``animatediff``) read back: that is how the loading code is
tested without a hub.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mcm.teachers.config import TeacherConfig, TinyUNetConfig
from mcm.teachers.base import Teacher
from mcm.teachers.modelscope import freeze
from mcm.teachers.targets import UNET_LORA_TARGETS

TINY_TEXT_MAX_LENGTH = 16
TINY_SCHEDULE_NAME = "scaled_linear"


def byte_level_alphabet() -> list[str]:
    """The 256 printable characters that byte-level BPE (GPT-2, CLIP) maps the bytes to."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
    printable += list(range(ord("\xae"), ord("\xff") + 1))
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]


def byte_level_tokenizer(max_length: int = TINY_TEXT_MAX_LENGTH):
    """A CLIP tokenizer built in memory: one token per byte-level character (and its end-of-word form)."""
    from transformers import CLIPTokenizer

    chars = byte_level_alphabet()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    for ch in chars:
        vocab.setdefault(ch + "</w>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = max_length
    return tok


def tiny_text_encoder(arch: TinyUNetConfig, vocab_size: int, max_length: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=arch.cross_attention_dim,
        intermediate_size=2 * arch.cross_attention_dim,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config)


def tiny_vae(arch: TinyUNetConfig):
    from diffusers import AutoencoderKL

    n = len(arch.vae_block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(arch.vae_block_out_channels),
        layers_per_block=1,
        latent_channels=arch.latent_channels,
        norm_num_groups=min(arch.vae_block_out_channels[0], 8),
        sample_size=32,
    )


def tiny_unet3d(arch: TinyUNetConfig):
    from diffusers import UNet3DConditionModel

    n = len(arch.block_out_channels)
    return UNet3DConditionModel(
        sample_size=32,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        down_block_types=("CrossAttnDownBlock3D",) * (n - 1) + ("DownBlock3D",),
        up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (n - 1),
        block_out_channels=tuple(arch.block_out_channels),
        layers_per_block=arch.layers_per_block,
        norm_num_groups=arch.norm_num_groups,
        cross_attention_dim=arch.cross_attention_dim,
        attention_head_dim=arch.attention_head_dim,
    )


def tiny_unet2d_and_adapter(arch: TinyUNetConfig):
    from diffusers import MotionAdapter, UNet2DConditionModel

    n = len(arch.block_out_channels)
    unet2d = UNet2DConditionModel(
        sample_size=32,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        block_out_channels=tuple(arch.block_out_channels),
        layers_per_block=arch.layers_per_block,
        norm_num_groups=arch.norm_num_groups,
        cross_attention_dim=arch.cross_attention_dim,
        attention_head_dim=arch.attention_head_dim,
    )
    adapter = MotionAdapter(
        block_out_channels=tuple(arch.block_out_channels),
        motion_layers_per_block=arch.layers_per_block,
        motion_norm_num_groups=arch.norm_num_groups,
        motion_num_attention_heads=2,
        motion_max_seq_length=arch.motion_max_seq_length,
    )
    return unet2d, adapter


def build_tiny_teacher(cfg: TeacherConfig) -> Teacher:
    """A random-initialised ModelScope- (``tiny_modelscope``) or AnimateDiff-architecture (``tiny_animatediff``) teacher."""
    from diffusers import UNetMotionModel

    arch = cfg.tiny
    if any(c % arch.norm_num_groups for c in arch.block_out_channels):
        raise ValueError(
            f"teacher.tiny.norm_num_groups={arch.norm_num_groups} must divide every block_out_channels "
            f"{tuple(arch.block_out_channels)}"
        )
    # Seeded construction: the same config always rebuilds the same teacher (fork keeps the global RNG intact).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(arch.seed)
        tokenizer = byte_level_tokenizer()
        text_encoder = tiny_text_encoder(arch, len(tokenizer.get_vocab()), TINY_TEXT_MAX_LENGTH)
        vae = tiny_vae(arch)
        components = {}
        if cfg.kind == "tiny_modelscope":
            network = tiny_unet3d(arch)
        elif cfg.kind == "tiny_animatediff":
            unet2d, adapter = tiny_unet2d_and_adapter(arch)
            network = UNetMotionModel.from_unet2d(unet2d, adapter)
            components = {"unet2d": unet2d, "motion_adapter": adapter}
        else:
            raise ValueError(f"teacher.kind={cfg.kind!r} is not a tiny teacher")
    freeze(network, text_encoder, vae)
    return Teacher(
        name=cfg.kind,
        network=network,
        schedule={
            "num_train_timesteps": cfg.num_train_timesteps,
            "beta_start": cfg.beta_start,
            "beta_end": cfg.beta_end,
            "beta_schedule": cfg.beta_schedule or TINY_SCHEDULE_NAME,
        },
        lora_targets=UNET_LORA_TARGETS,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        vae=vae,
        repeat_text_per_frame=cfg.kind == "tiny_animatediff",
        latent_channels=arch.latent_channels,
        vae_scale_factor=2 ** (len(arch.vae_block_out_channels) - 1),
        text_max_length=TINY_TEXT_MAX_LENGTH,
        components=components,
    )


def save_teacher_folder(teacher: Teacher, folder: str | Path) -> dict[str, str]:
    """Write a teacher as diffusers-format folders; returns the paths for a TeacherConfig.

    ModelScope layout: ``folder/{unet,vae,text_encoder,tokenizer,scheduler}``. AnimateDiff: the SD1.5 folder
    (with the 2-D UNet) plus ``folder/motion_adapter``."""
    from diffusers import DDIMScheduler

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "unet2d" in teacher.components:
        teacher.components["unet2d"].save_pretrained(folder / "unet")
        teacher.components["motion_adapter"].save_pretrained(folder / "motion_adapter")
    else:
        teacher.network.save_pretrained(folder / "unet")
    teacher.vae.save_pretrained(folder / "vae")
    teacher.text_encoder.save_pretrained(folder / "text_encoder")
    teacher.tokenizer.save_pretrained(folder / "tokenizer")
    DDIMScheduler(**teacher.schedule).save_pretrained(folder / "scheduler")
    paths = {"path": str(folder)}
    if "motion_adapter" in teacher.components:
        paths["motion_adapter_path"] = str(folder / "motion_adapter")
    return paths
