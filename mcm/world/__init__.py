"""The small video world: a synthetic text-to-video domain with ground truth (shapes, colours, motions).

``spec`` names the attributes and the caption language, ``render`` draws clips, ``sets`` builds the
datasets (V, M, the styled set, the seen and zero-shot prompt sets) from a seed, ``write`` puts them on disk
in the formats ``mcm data videos`` / ``mcm data images`` read.
"""
