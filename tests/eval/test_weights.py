import pytest
import torch
from safetensors.torch import save_file

from mcm.eval.fid import load_inception
from mcm.eval.i3d import load_i3d
from mcm.eval.weights import load_safetensors_weights


def test_pickle_files_are_refused_with_the_convert_command(tmp_path):
    pt = tmp_path / "i3d.pt"
    torch.save({"w": torch.zeros(1)}, pt)
    with pytest.raises(ValueError, match="mcm convert i3d"):
        load_i3d(pt)
    with pytest.raises(ValueError, match="mcm convert inception"):
        load_inception(tmp_path / "inception.pth")


def test_missing_file_is_named_and_safetensors_load(tmp_path):
    with pytest.raises(ValueError, match="fid.weights file not found"):
        load_inception(tmp_path / "absent.safetensors")
    save_file({"w": torch.ones(2)}, str(tmp_path / "x.safetensors"))
    assert load_safetensors_weights(tmp_path / "x.safetensors", "x", "")["w"].tolist() == [1.0, 1.0]
