"""``torch_threads(n)``: torch's intra-op thread count set to ``n`` for a block and restored after it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch


@contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Within the block torch uses ``n`` threads (None: leave as is); the previous count is restored after."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
