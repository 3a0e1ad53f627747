"""Sparse frames: only l frames per video are decoded, with gradients (Section 3.1)."""

import pytest
import torch

from mcm.discriminator import decode_sparse_frames, gather_frames, repeat_per_frame, sample_frame_indices


def test_random_indices_are_distinct_sorted_in_range_and_seeded():
    g = torch.Generator().manual_seed(0)
    idx = sample_frame_indices(64, 16, 3, g)
    assert idx.shape == (64, 3) and idx.dtype == torch.long
    assert idx.min() >= 0 and idx.max() < 16
    assert torch.all(idx[:, 1:] > idx[:, :-1])  # distinct and sorted
    assert torch.equal(idx, sample_frame_indices(64, 16, 3, torch.Generator().manual_seed(0)))
    # every frame gets picked with probability l / F
    counts = torch.bincount(sample_frame_indices(4000, 16, 2, g).flatten(), minlength=16).float()
    torch.testing.assert_close(counts / 4000, torch.full((16,), 2 / 16), atol=0.02, rtol=0)


def test_segment_indices_take_one_frame_per_segment():
    idx = sample_frame_indices(200, 16, 4, torch.Generator().manual_seed(1), strategy="segment")
    for k in range(4):
        assert idx[:, k].min() >= 4 * k and idx[:, k].max() < 4 * (k + 1)


def test_bad_l_names_the_argument():
    with pytest.raises(ValueError, match="l=17"):
        sample_frame_indices(2, 16, 17)
    with pytest.raises(ValueError, match="frame_sampling"):
        sample_frame_indices(2, 16, 2, strategy="dense")


class SpyDecoder:
    """Records every call; 'decodes' (N, C, h, w) to (N, 3, 2h, 2w) differentiably."""

    def __init__(self):
        self.calls = []
        self.weight = torch.arange(1.0, 4.0).view(1, 3, 1, 1)

    def __call__(self, z):
        self.calls.append(tuple(z.shape))
        img = z.mean(dim=1, keepdim=True) * self.weight
        return torch.nn.functional.interpolate(img, scale_factor=2)


def test_only_the_chosen_frames_are_decoded_with_gradients():
    b, c, f, h, w, l = 3, 4, 8, 5, 6, 2
    latents = torch.randn(b, c, f, h, w, requires_grad=True)
    idx = sample_frame_indices(b, f, l, torch.Generator().manual_seed(2))
    spy = SpyDecoder()
    images = decode_sparse_frames(spy, latents, idx)
    assert spy.calls == [(b * l, c, h, w)]  # one call, l frames per video, never all F
    assert images.shape == (b * l, 3, 2 * h, 2 * w)
    # row b*l + i is frame idx[b, i] of video b
    for v in range(b):
        for i in range(l):
            torch.testing.assert_close(images[v * l + i], spy(latents[v, :, idx[v, i]][None])[0])
    images.sum().backward()
    touched = latents.grad.abs().flatten(3).sum(dim=(1, 3)) > 0  # (B, F)
    expected = torch.zeros(b, f, dtype=torch.bool)
    expected[torch.arange(b).view(-1, 1), idx] = True
    assert torch.equal(touched, expected)


def test_chunked_decoding_matches_one_call():
    latents = torch.randn(4, 4, 6, 3, 3)
    idx = sample_frame_indices(4, 6, 2)
    spy = SpyDecoder()
    chunked = decode_sparse_frames(spy, latents, idx, chunk_size=3)
    assert spy.calls == [(3, 4, 3, 3), (3, 4, 3, 3), (2, 4, 3, 3)]
    torch.testing.assert_close(chunked, decode_sparse_frames(SpyDecoder(), latents, idx))


def test_gather_pixel_frames_and_repeat_embeddings():
    video = torch.arange(2 * 5).float().view(2, 5, 1, 1, 1).expand(2, 5, 3, 2, 2)  # (B, F, C, H, W)
    idx = torch.tensor([[0, 3], [1, 4]])
    frames = gather_frames(video, idx, frame_dim=1)
    assert frames.shape == (4, 3, 2, 2)
    assert frames[:, 0, 0, 0].tolist() == [0.0, 3.0, 6.0, 9.0]
    emb = torch.tensor([[1.0], [2.0]])
    assert repeat_per_frame(emb, 2).flatten().tolist() == [1.0, 1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="indices"):
        gather_frames(video, torch.tensor([[0, 5], [1, 2]]), frame_dim=1)
