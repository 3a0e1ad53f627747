"""The image discriminator of MCM (Eq. 4-5, Appendix C.1): model, losses, text condition, and the sparse frames it
judges (Section 3.1).

Names are imported lazily (PEP 562): the config schema imports ``DiscriminatorConfig`` and must not pay for
transformers' DINOv2 at every ``mcm config show``.
"""

from __future__ import annotations

from mcm.utils.lazy import lazy_getattr

_SOURCES = {
    "DinoFeatureExtractor": "mcm.discriminator.backbone",
    "DiscriminatorConfig": "mcm.discriminator.config",
    "DiscriminatorHead": "mcm.discriminator.heads",
    "DiscriminatorText": "mcm.discriminator.text",
    "ImageDiscriminator": "mcm.discriminator.model",
    "LocalBatchNorm": "mcm.discriminator.heads",
    "PenaltyWeight": "mcm.discriminator.loss",
    "TinyBackboneConfig": "mcm.discriminator.config",
    "build_discriminator": "mcm.discriminator.model",
    "decode_sparse_frames": "mcm.discriminator.sparse_frames",
    "diff_augment": "mcm.discriminator.augment",
    "discriminator_loss": "mcm.discriminator.loss",
    "frame_seeds": "mcm.discriminator.loss",
    "frozen": "mcm.discriminator.model",
    "gather_frames": "mcm.discriminator.sparse_frames",
    "generator_adversarial_loss": "mcm.discriminator.loss",
    "hinge_discriminator_loss": "mcm.discriminator.loss",
    "imagenet_normalize": "mcm.discriminator.augment",
    "load_dinov2": "mcm.discriminator.backbone",
    "preprocess_per_sample": "mcm.discriminator.loss",
    "r1_penalty": "mcm.discriminator.loss",
    "repeat_per_frame": "mcm.discriminator.sparse_frames",
    "resize_for_backbone": "mcm.discriminator.augment",
    "sample_frame_indices": "mcm.discriminator.sparse_frames",
    "tiny_dinov2": "mcm.discriminator.backbone",
    "wgan_gp_from_features": "mcm.discriminator.loss",
    "wgan_gp_penalty": "mcm.discriminator.loss",
}

__all__ = sorted(_SOURCES)

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
