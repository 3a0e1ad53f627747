"""The image discriminator of MCM (Eq. 4-5, Appendix C.1) and the sparse frames it judges (Section 3.1)."""

from mcm.discriminator.augment import diff_augment, imagenet_normalize, resize_for_backbone
from mcm.discriminator.backbone import DinoFeatureExtractor, load_dinov2, tiny_dinov2
from mcm.discriminator.config import DiscriminatorConfig, TinyBackboneConfig
from mcm.discriminator.heads import DiscriminatorHead, LocalBatchNorm
from mcm.discriminator.loss import (
    PenaltyWeight,
    discriminator_loss,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    r1_penalty,
    wgan_gp_penalty,
)
from mcm.discriminator.model import ImageDiscriminator, build_discriminator, frozen
from mcm.discriminator.sparse_frames import (
    decode_sparse_frames,
    gather_frames,
    repeat_per_frame,
    sample_frame_indices,
)

__all__ = [
    "DinoFeatureExtractor",
    "DiscriminatorConfig",
    "DiscriminatorHead",
    "ImageDiscriminator",
    "LocalBatchNorm",
    "PenaltyWeight",
    "TinyBackboneConfig",
    "build_discriminator",
    "decode_sparse_frames",
    "diff_augment",
    "discriminator_loss",
    "frozen",
    "gather_frames",
    "generator_adversarial_loss",
    "hinge_discriminator_loss",
    "imagenet_normalize",
    "load_dinov2",
    "r1_penalty",
    "repeat_per_frame",
    "resize_for_backbone",
    "sample_frame_indices",
    "tiny_dinov2",
    "wgan_gp_penalty",
]
