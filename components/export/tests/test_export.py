"""The export component under kfp.local: a diffusers folder and ONNX parts from the distilled run folder."""

import json

from pipelines.params import TINY, load_params

PARAMS = load_params(overlays=[TINY])


def test_export_component_writes_every_format(exported):
    info = json.loads((exported / "mcm_export.json").read_text())
    assert info  # the export's own record
    assert (exported / "model_index.json").is_file()  # the diffusers pipeline folder stock diffusers loads
    parts = json.loads((exported / "onnx/parts.json").read_text())
    assert {"text_encoder", "unet", "vae_decoder"} <= set(parts["parts"])
    for part in parts["parts"].values():  # each part was checked against eager within the tolerance
        assert part["max_abs_error"] <= parts["tolerance"]
        assert (exported / "onnx" / part["file"]).stat().st_size > 0
    assert (parts["frames"], parts["height"]) == (PARAMS["data_videos"]["num_frames"], PARAMS["data_videos"]["height"])
