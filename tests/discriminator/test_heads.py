"""Heads of the discriminator: local batch norm, spectral norm, text projection (Appendix C.1)."""

import torch

from mcm.discriminator import DiscriminatorHead, LocalBatchNorm


def test_local_batch_norm_normalises_each_virtual_batch_separately():
    bn = LocalBatchNorm(3, virtual_batch=8)
    x = torch.randn(20, 3, 5) * 4 + 2  # groups of 8, 8, 4
    y = bn(x)
    for g in (y[:8], y[8:16], y[16:]):
        torch.testing.assert_close(g.mean(dim=(0, 2)), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(g.var(dim=(0, 2), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    x2 = x.clone()
    x2[:8] *= 10  # the first group does not affect the others
    assert torch.equal(bn(x2)[8:], y[8:])
    assert list(bn.buffers()) == []
    bn.eval()
    assert torch.equal(bn(x), y)  # no running statistics: eval == train


def test_head_gives_one_logit_per_patch_and_depends_on_text():
    head = DiscriminatorHead(32, channels=24, text_dim=16, cmap_dim=8, kernel_size=9, virtual_batch=8)
    tokens = torch.randn(5, 32, 12)
    text = torch.randn(5, 16)
    out = head(tokens, text)
    assert out.shape == (5, 12)
    assert not torch.allclose(head(tokens, torch.randn(5, 16)), out)
    uncond = DiscriminatorHead(32, text_dim=0)
    assert uncond(tokens).shape == (5, 12)


def test_spectral_norm_bounds_the_conv_weights():
    head = DiscriminatorHead(16, text_dim=0)
    tokens = torch.randn(8, 16, 10)
    for _ in range(30):  # power iterations converge during training forwards
        head(tokens)
    head.eval()
    conv = head.main[0][0]
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    torch.testing.assert_close(sigma, torch.tensor(1.0), atol=1e-3, rtol=0)
