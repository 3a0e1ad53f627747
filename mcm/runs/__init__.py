"""The run folder: its layout, format version, checkpoints and the exported student.

Used by the trainer (writes), the sampler and the evaluation (read): keeping it out of ``mcm.trainer`` means
sampling never imports the training code.
"""
