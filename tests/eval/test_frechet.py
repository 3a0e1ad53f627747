import numpy as np
import pytest
import scipy.linalg
import torch

from mcm.eval.frechet import (
    FeatureStats,
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_from_stats,
)


def _scipy_reference(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid's formula with np.cov and scipy.linalg.sqrtm."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_matches_scipy_sqrtm_reference(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 24)) @ rng.normal(size=(24, 24))
    y = rng.normal(size=(300, 24)) @ rng.normal(size=(24, 24)) + 0.5
    ref = _scipy_reference(x, y)
    got = frechet_distance_from_features(torch.from_numpy(x), torch.from_numpy(y), method=method)
    assert got == pytest.approx(ref, rel=1e-6)
    assert ref > 1.0


def test_same_set_is_zero():
    x = torch.randn(200, 32, dtype=torch.float64) @ torch.randn(32, 32, dtype=torch.float64)
    assert abs(frechet_distance_from_features(x, x)) < 1e-8 * float(x.var(0).sum())


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    a, b = rng.uniform(0.1, 3, size=10), rng.uniform(0.1, 3, size=10)
    closed = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    for method in ("eigh", "sqrtm"):
        assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method) == pytest.approx(closed, rel=1e-10)


def test_finite_on_singular_covariances():
    torch.manual_seed(0)
    x, y = torch.randn(10, 64), torch.randn(12, 64) + 0.1  # fewer samples than dimensions: rank <= 11
    for method in ("eigh", "sqrtm"):
        d = frechet_distance_from_features(x, y, method=method)
        assert np.isfinite(d) and d > 0
    assert frechet_distance_from_features(x, y, "eigh") == pytest.approx(
        frechet_distance_from_features(x, y, "sqrtm"), rel=1e-4
    )


def test_merged_statistics_equal_all_at_once(tmp_path):
    x = torch.randn(90, 8)
    whole, parts = FeatureStats(8), [FeatureStats(8) for _ in range(3)]
    whole.update(x)
    for i, p in enumerate(parts):
        p.update(x[i::3])
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.n == 90
    np.testing.assert_allclose(merged.cov(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(merged.mean(), whole.mean(), rtol=1e-12)
    merged.save(tmp_path / "s.safetensors", {"set": "x"})
    back = FeatureStats.load(tmp_path / "s.safetensors")
    assert back.n == 90 and torch.equal(back.outer, merged.outer)
    assert frechet_distance_from_stats(back, whole) == pytest.approx(0.0, abs=1e-9)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shape"):
        FeatureStats(4).update(torch.randn(3, 5))
    with pytest.raises(ValueError, match="method"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")
