import pytest
import torch
from safetensors.torch import save_file
from torchmetrics.image.fid import FrechetInceptionDistance

from mcm.eval.config import FIDConfig
from mcm.eval.fid import FIDFeatures, load_inception, to_uint8
from mcm.eval.frechet import frechet_distance_from_features


@pytest.fixture
def fid_features(frame_net):
    return FIDFeatures(frame_net, FIDConfig(frames_per_video=4), dim=16)


def test_identical_sets_zero_and_grows_with_noise(fid_features, textures):
    videos = textures(24, seed=0)
    real = fid_features(videos)
    assert real.shape == (24 * 4, 16)
    assert abs(frechet_distance_from_features(real, fid_features(videos))) < 1e-8
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(videos.shape, generator=g)
    fids = [frechet_distance_from_features(real, fid_features((videos + s * noise).clamp(0, 1)))
            for s in (0.05, 0.15, 0.4)]
    assert 0 < fids[0] < fids[1] < fids[2], fids


def test_matches_torchmetrics_fid_with_same_extractor(fid_features, textures):
    a, b = textures(12, seed=1), (textures(12, seed=2) * 0.7 + 0.2)
    ours = frechet_distance_from_features(fid_features(a), fid_features(b))
    tm = FrechetInceptionDistance(feature=fid_features.network, normalize=False)
    tm.update(to_uint8(torch.stack(fid_features.sample_frames(a))), real=True)
    tm.update(to_uint8(torch.stack(fid_features.sample_frames(b))), real=False)
    assert ours == pytest.approx(float(tm.compute()), rel=1e-4)


def test_frame_sampling_rule(frame_net):
    ext = FIDFeatures(frame_net, FIDConfig(frames_per_video=4), dim=16)
    video = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 3, 2, 2)
    assert [int(f[0, 0, 0]) for f in ext.sample_frames(video.unsqueeze(0))] == [0, 5, 10, 15]
    every = FIDFeatures(frame_net, FIDConfig(frames_per_video=None), dim=16)
    assert len(every.sample_frames(torch.zeros(2, 16, 3, 2, 2))) == 32


def _random_inception_state(tmp_path, monkeypatch) -> dict[str, torch.Tensor]:
    """Random full-size weights in torch-fidelity's InceptionV3 layout, built offline (no download)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as FE

    torch.save({}, tmp_path / "empty.pt")
    with monkeypatch.context() as m:
        m.setattr(FE, "load_state_dict", lambda self, state, *a, **k: None)
        net = FE("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp_path / "empty.pt"))
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_inception_weights_load_from_local_safetensors(tmp_path, monkeypatch):
    torch.manual_seed(0)
    state = _random_inception_state(tmp_path, monkeypatch)
    save_file(state, str(tmp_path / "inception.safetensors"))
    model = load_inception(tmp_path / "inception.safetensors")
    assert torch.equal(model.state_dict()["fc.weight"], state["fc.weight"])
    feats = FIDFeatures(model, FIDConfig(batch_size=2))(torch.rand(1, 2, 3, 48, 48))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    with pytest.raises(ValueError, match="mcm convert inception"):
        load_inception(tmp_path / "weights.pth")
