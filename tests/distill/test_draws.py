"""The micro-batch draws (issue 8, defect 9): a rank draws only its slice, from a counter-based stream in which
every sample owns a fixed block, so any split of the global batch gives each sample the same draws."""

import pytest
import torch

from mcm.config.load import load_config
from mcm.distill.draws import draw_rank_slice

TEACHER = load_config("tiny").teacher
SHAPE = (4, 4, 8, 8)


@pytest.mark.parametrize("lambda_real, sparse, sampling", [(1.0, 0, "random"), (0.0, 2, "random"), (0.0, 2, "segment")])
def test_any_split_of_the_global_batch_gives_each_sample_the_same_draws(lambda_real, sparse, sampling):
    whole = draw_rank_slice(11, 0, 6, SHAPE, 50, TEACHER, lambda_real, sparse, sampling)
    for start, batch in ((0, 2), (2, 3), (5, 1)):
        part = draw_rank_slice(11, start, batch, SHAPE, 50, TEACHER, lambda_real, sparse, sampling)
        assert part.generated == whole.generated
        for name in ("index", "noise", "w", "start_noise", "frames", "aug_seeds"):
            a, b = getattr(part, name), getattr(whole, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert torch.equal(a, b[start:start + batch]), name


def test_draws_have_the_right_distributions():
    d = draw_rank_slice(3, 0, 256, SHAPE, 50, TEACHER, lambda_real=0.0, sparse_frames=2)
    n = d.noise.flatten().double()
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01 and abs((n**4).mean() - 3) < 0.05  # N(0, 1)
    assert not torch.equal(d.noise, d.start_noise) and abs(d.start_noise.std() - 1) < 0.01
    assert 0 <= int(d.index.min()) and int(d.index.max()) <= 49 and len(set(d.index.tolist())) > 40
    assert float(d.w.min()) >= TEACHER.guidance_min and float(d.w.max()) <= TEACHER.guidance_max
    assert torch.all(d.frames[:, 0] < d.frames[:, 1]) and int(d.frames.max()) < SHAPE[1]  # l distinct, sorted
    assert len(set(d.aug_seeds.tolist())) == 256
    other = draw_rank_slice(4, 0, 256, SHAPE, 50, TEACHER)
    assert not torch.equal(other.noise, d.noise)  # another micro-batch, other draws
