import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mcm.eval.config import FVDConfig
from mcm.eval.convert import convert_i3d
from mcm.eval.fvd import FVDFeatures, preprocess_clip
from mcm.eval.i3d import InceptionI3d, TorchScriptI3D, load_i3d, parameter_layout

PARAMS = json.loads((Path(__file__).parent / "i3d_params.json").read_text())["parameters"]


@pytest.fixture(scope="module")
def i3d():
    torch.manual_seed(0)
    return InceptionI3d().eval()


def test_layout_equals_committed_pytorch_i3d_list(i3d):
    assert parameter_layout(i3d) == PARAMS
    assert len(PARAMS) == 344


def test_pytorch_i3d_checkpoint_converts_and_loads_every_key(i3d, tmp_path):
    # A checkpoint as pytorch-i3d ships it: DataParallel "module." prefix, no num_batches_tracked counters.
    state = {f"module.{k}": torch.randn(v) if v else torch.tensor(0) for k, v in PARAMS.items()}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "rgb_imagenet.pt")
    n = convert_i3d(tmp_path / "rgb_imagenet.pt", tmp_path / "i3d.safetensors")
    assert n == len(state)
    model = load_i3d(tmp_path / "i3d.safetensors")
    got = model.state_dict()
    for key, value in state.items():
        assert torch.equal(got[key[len("module."):]], value), key
    assert set(load_file(str(tmp_path / "i3d.safetensors"))) | {k for k in PARAMS if "num_batches" in k} == set(PARAMS)


def test_wrong_layout_is_refused(tmp_path):
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="layout mismatch"):
        convert_i3d(tmp_path / "bad.pt", tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="mcm convert i3d"):
        load_i3d(tmp_path / "bad.pt")


def test_features_have_shape_n_400(i3d):
    cfg = FVDConfig(resolution=64, num_frames=8, batch_size=2)
    feats = FVDFeatures(i3d, cfg)(torch.rand(3, 10, 3, 48, 80))
    assert feats.shape == (3, 400) and torch.isfinite(feats).all()


def test_preprocess_protocol():
    video = torch.rand(20, 3, 60, 90)
    clip = preprocess_clip(video, FVDConfig(resolution=32, num_frames=16, clip_sampling="center"))
    assert clip.shape == (3, 16, 32, 32)
    assert clip.min() >= -1 and clip.max() <= 1 and clip.min() < -0.9
    # center sampling of 20 frames takes frames 2..17; a constant-per-frame video shows which
    ramp = torch.arange(20.0).view(20, 1, 1, 1).expand(20, 3, 8, 8) / 19
    got = preprocess_clip(ramp, FVDConfig(resolution=8, num_frames=16, clip_sampling="center"))[0, :, 0, 0]
    torch.testing.assert_close(got, torch.arange(2.0, 18.0) / 19 * 2 - 1)
    with pytest.raises(ValueError, match="num_frames=16"):
        preprocess_clip(torch.rand(8, 3, 8, 8), FVDConfig())


class _FakeStyleGANV(torch.nn.Module):
    def forward(self, x: torch.Tensor, rescale: bool, resize: bool, return_features: bool) -> torch.Tensor:
        if rescale or resize or not return_features:
            return torch.zeros(x.shape[0], 1)
        return x.mean(dim=(2, 3, 4)).repeat(1, 134)[:, :400]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_file_runs_as_is(tmp_path):
    torch.jit.script(_FakeStyleGANV()).save(str(tmp_path / "i3d_torchscript.pt"))
    cfg = FVDConfig(torchscript=tmp_path / "i3d_torchscript.pt", resolution=16)
    ext = FVDFeatures.from_config(cfg)
    assert isinstance(ext.network, TorchScriptI3D)
    feats = ext(torch.full((2, 16, 3, 20, 20), 0.75))
    torch.testing.assert_close(feats, torch.full((2, 400), 0.5))
