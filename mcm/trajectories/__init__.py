"""Trajectory sampling of the distillation step: mixed real / generated start points (Eq. 7-9)."""
