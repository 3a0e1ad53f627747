"""Differentiable augmentation and backbone preprocessing (Appendix C.1)."""

import pytest
import torch

from mcm.discriminator import diff_augment, imagenet_normalize, resize_for_backbone
from mcm.discriminator.augment import IMAGENET_MEAN, IMAGENET_STD, rand_brightness, rand_cutout, rand_translation


def test_translation_shifts_each_image_with_zero_fill():
    x = torch.rand(6, 3, 16, 16) + 1.0  # strictly positive so the zero fill is visible
    y = rand_translation(x, ratio=0.125, generator=torch.Generator().manual_seed(0))
    for i in range(6):
        matches = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
            if torch.equal(y[i], _shift(x[i], dy, dx))
        ]
        assert len(matches) == 1, i


def _shift(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[:, max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def test_cutout_zeroes_one_rectangle_per_image():
    x = torch.ones(50, 3, 20, 20)
    y = rand_cutout(x, ratio=0.2, generator=torch.Generator().manual_seed(1))
    zeros = (y[:, 0] == 0).sum(dim=(1, 2))
    assert torch.all(zeros <= 16) and torch.all(zeros >= 4) and (zeros == 16).any()  # 4x4 clipped at borders
    assert torch.equal((y == 0).all(dim=1), (y[:, :1] == 0)[:, 0])  # same mask on every channel


def test_brightness_offsets_lie_in_range():
    x = torch.zeros(100, 3, 4, 4)
    off = rand_brightness(x)[:, 0, 0, 0]
    assert off.min() >= -0.5 and off.max() < 0.5 and off.std() > 0.2


def test_same_generator_same_augmentation_and_gradients_flow():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    a = diff_augment(x, generator=torch.Generator().manual_seed(5))
    b = diff_augment(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, policy=()), x)
    with pytest.raises(ValueError, match="rotation"):
        diff_augment(x, policy=("rotation",))


def test_resize_and_imagenet_normalisation():
    x = torch.rand(2, 3, 40, 40)
    assert resize_for_backbone(x, 32).shape == (2, 3, 32, 32)
    cropped = resize_for_backbone(x, 32, random_crop_prob=1.0, generator=torch.Generator().manual_seed(0))
    assert cropped.shape == (2, 3, 32, 32)
    # a crop is an exact window of the input
    assert any(torch.equal(cropped, x[:, :, t:t + 32, l:l + 32]) for t in range(9) for l in range(9))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    torch.testing.assert_close(imagenet_normalize(mean), torch.zeros(1, 3, 2, 2))
    one = imagenet_normalize(torch.ones(1, 3, 1, 1)).flatten()
    torch.testing.assert_close(one, (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))
