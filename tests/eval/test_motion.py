import torch

from mcm.eval.config import FIDConfig, MotionConfig
from mcm.eval.fid import FIDFeatures
from mcm.eval.frechet import frechet_distance_from_features
from mcm.eval.motion import MotionFeatures


def _shuffle_frames(videos: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([v[torch.randperm(v.shape[0], generator=g)] for v in videos])


def test_motion_fd_reacts_to_temporal_shuffling_with_frames_unchanged(textures, frame_net):
    ext = MotionFeatures(MotionConfig(grid=16, blocks=2))
    reference = textures(48, seed=0)
    smooth = textures(48, seed=1)
    shuffled = _shuffle_frames(smooth, seed=2)
    assert ext(smooth).shape == (48, 2 * 2 * 8)

    fd_smooth = frechet_distance_from_features(ext(reference), ext(smooth))
    fd_shuffled = frechet_distance_from_features(ext(reference), ext(shuffled))
    assert fd_shuffled > 10 * fd_smooth, (fd_smooth, fd_shuffled)

    # Per-frame content is unchanged: a frame metric (FID features) sees exactly the same set of frames.
    frames = FIDFeatures(frame_net, FIDConfig(), dim=16)
    a, b = frames(smooth), frames(shuffled)
    assert frechet_distance_from_features(a, b) < 1e-8


def test_static_content_change_barely_moves_motion_features(textures):
    ext = MotionFeatures(MotionConfig(grid=16, blocks=2))
    videos = textures(4, seed=3)
    brighter = (videos * 0.8 + 0.1)  # same motion, different per-frame content (contrast/brightness)
    shift = (ext(videos) - ext(brighter)).abs().max()
    assert shift < abs(2 * torch.log(torch.tensor(0.8))) + 1e-3  # only the global contrast term 2*log(0.8)
