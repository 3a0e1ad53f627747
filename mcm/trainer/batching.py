"""Deterministic, resumable, rank-sharded batching.

Epoch e is a permutation of the dataset seeded by (seed, e). Global micro-batch k of the epoch is
``perm[k*G : (k+1)*G]`` with G = per-rank batch x world size; rank r reads its own slice
``[r*b : (r+1)*b]`` of it. So two ranks with batch b see exactly the samples that one rank with batch 2b sees,
and the position (epoch, micro-batch) is all that is needed to resume. With ``with_epoch`` each index comes as
``(epoch, index)``, for datasets whose item depends on the epoch (a clip's random start).
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class ShardedBatchSampler(Sampler[list[int]]):
    def __init__(self, dataset_size: int, batch_size: int, rank: int, world_size: int, seed: int, start: int = 0,
                 with_epoch: bool = False):
        global_batch = batch_size * world_size
        if dataset_size < global_batch:
            raise ValueError(
                f"dataset has {dataset_size} items, fewer than one global batch ({batch_size} x {world_size} ranks)"
            )
        self.dataset_size, self.batch_size, self.rank, self.world_size, self.seed = (
            dataset_size, batch_size, rank, world_size, seed,
        )
        self.batches_per_epoch = dataset_size // global_batch
        self.start = start  # micro-batches consumed before this sampler began
        self.with_epoch = with_epoch
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices_of(self, position: int) -> list:
        """This rank's indices (or ``(epoch, index)`` keys) for the ``position``-th global micro-batch of the run."""
        epoch, k = divmod(position, self.batches_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.dataset_size, generator=g)
        lo = k * self.batch_size * self.world_size + self.rank * self.batch_size
        indices = self._perm[lo : lo + self.batch_size].tolist()
        return [(epoch, i) for i in indices] if self.with_epoch else indices

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start
        while True:
            yield self.indices_of(position)
            position += 1

    def __len__(self) -> int:  # infinite stream; DataLoader needs a number
        return 2**62
