"""What ``mcm export`` writes, typed: the ``export`` section of ``params.yaml`` or the CLI's flags."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from mcm.config.base import StrictConfig

ExportFormat = Literal["diffusers", "onnx"]


class ExportConfig(StrictConfig):
    """One export of a distilled student."""

    checkpoint: Optional[str] = Field(None, description="Run folder, exported student folder, or runs/LATEST.")
    out: Optional[str] = Field(None, description="Output folder.")
    formats: list[ExportFormat] = Field(default_factory=lambda: ["diffusers", "onnx"],
                                        description="What to write: the diffusers format and/or the ONNX parts.")
    tensorrt: bool = Field(False, description="Also build fp16 TensorRT engines from the ONNX parts (CUDA).")
    onnx_tolerance: float = Field(1e-3, gt=0, description="Bound on max |onnxruntime - PyTorch| of each ONNX part.")

    @field_validator("formats")
    @classmethod
    def _some_format(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("formats: name at least one of diffusers, onnx")
        return list(dict.fromkeys(value))

    def require_paths(self) -> "ExportConfig":
        """This config, with an error naming the field when the checkpoint or the output folder is missing."""
        for name in ("checkpoint", "out"):
            if not getattr(self, name):
                raise ValueError(f"give --{name} (or `{name}:` in the config section)")
        if self.tensorrt and "onnx" not in self.formats:
            raise ValueError("tensorrt: the engines are built from the ONNX parts; add onnx to formats (--format onnx)")
        return self
