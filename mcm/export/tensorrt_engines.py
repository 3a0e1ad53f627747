"""fp16 TensorRT engines from the ONNX parts (``mcm export --tensorrt``), where a CUDA GPU and the tensorrt
package exist; elsewhere the export says why it skipped them. The serving image builds the same engines at
deploy time with its Triton release's TensorRT (``trtexec``, images/serve), because an engine only runs on the
TensorRT version and GPU it was built for.

Each engine gets one optimisation profile over the batch axis: min 1, opt ``opt_batch``, max ``max_batch``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENGINE_DIR = "tensorrt"


def build_engines(onnx_dir: str | Path, out: str | Path, opt_batch: int = 4, max_batch: int = 8,
                  workspace_gb: float = 4.0) -> dict[str, Any]:
    import tensorrt as trt

    onnx_dir, out = Path(onnx_dir), Path(out) / ENGINE_DIR
    out.mkdir(parents=True, exist_ok=True)
    parts = json.loads((onnx_dir / "parts.json").read_text())["parts"]
    logger = trt.Logger(trt.Logger.WARNING)
    built = {}
    for name, part in parts.items():
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse((onnx_dir / part["file"]).read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"tensorrt: cannot parse {part['file']}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * 2**30))
        if name != "text_encoder":  # fp16 text encoders overflow in their attention softmax on some prompts
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for input_name, shape in part["inputs"].items():
            rest = tuple(shape[1:])
            profile.set_shape(input_name, (1, *rest), (opt_batch, *rest), (max_batch, *rest))
        config.add_optimization_profile(profile)
        engine = builder.build_serialized_network(network, config)
        if engine is None:
            raise ValueError(f"tensorrt: building the {name} engine failed (see the TensorRT log above)")
        path = out / f"{name}.plan"
        path.write_bytes(bytes(engine))
        built[name] = {"file": path.name, "fp16": name != "text_encoder", "max_batch": max_batch,
                       "tensorrt": trt.__version__}
    (out / "engines.json").write_text(json.dumps(built, indent=1) + "\n")
    return built
