"""Export the student: a diffusers folder stock diffusers loads, ONNX parts checked against eager with onnxruntime,
and (GPU image, ``tensorrt: true``) TensorRT engines."""

from kfp import dsl
from kfp.dsl import Input, Model, Output

from components.images import image


@dsl.component(base_image=image("export"), install_kfp_package=False)
def export_student(model: Input[Model], config: dict, exported: Output[Model]):
    """``mcm export`` (params.yaml ``export``: formats, tensorrt) of the distilled run folder."""
    import json
    from pathlib import Path

    from components.common import mcm, restore_ints

    config = restore_ints(config)
    args = ["export", "--checkpoint", model.path, "--out", exported.path,
            "--format", *config.get("formats", ["diffusers", "onnx"])]
    if config.get("tensorrt"):
        args.append("--tensorrt")
    mcm(args)
    info = Path(exported.path) / "mcm_export.json"
    if info.is_file():
        exported.metadata.update({k: v for k, v in json.loads(info.read_text()).items()
                                  if isinstance(v, (str, int, float, bool))})
    exported.metadata["formats"] = list(config.get("formats", ["diffusers", "onnx"]))
