"""The conventions of the DINOv2 backbone, shared by its two users: the image discriminator
(``mcm.discriminator``, which reads a frozen DINOv2) and the small world's backbone training
(``mcm.world.backbone_ssl``, which trains the discriminator's stand-in for it).

``preprocess``: the input convention (resize to the backbone's side, ImageNet normalisation); ``config``: the
DINOv2 architecture fields (``TinyBackboneConfig``). Neither package imports the other for them.

This package module imports nothing: ``config`` is read by the config schema, which must not pay for torch.
"""
