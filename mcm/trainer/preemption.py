"""SIGTERM handling for preemptible pods.

The handler only sets a flag. At every optimiser-step boundary the trainer asks ``should_stop()``, which under
torch.distributed all-reduces the flag (MAX), so every rank stops at the same step even when the signal
reaches the pods at different times; then the trainer writes a checkpoint and exits. A micro-batch
interrupted mid-accumulation is redone on resume (the checkpoint holds the position at the boundary), so a
resumed run is identical to an uninterrupted one. Set ``train.sigterm_grace_s`` below the pod's
terminationGracePeriodSeconds minus one optimiser step and one checkpoint write.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Optional

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

FAULT_ENV = "MCM_FAULT_SIGTERM_AT"  # "update:micro": the run signals itself there (tests of preemption)


class PreemptionGuard:
    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self.signalled_at: Optional[float] = None
        self._previous = None
        fault = os.environ.get(FAULT_ENV)
        self.fault_at = tuple(int(x) for x in fault.split(":")) if fault else None

    def install(self) -> "PreemptionGuard":
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
            log.warning("SIGTERM received: stopping at the next optimiser step (grace %.0fs)", self.grace_s)

    def maybe_inject(self, update: int, micro: int) -> None:
        """Fault injection for tests: SIGTERM this process at (update, micro)."""
        if self.fault_at == (update, micro):
            os.kill(os.getpid(), signal.SIGTERM)

    def should_stop(self, device: torch.device | str = "cpu") -> bool:
        flag = torch.tensor([1.0 if self.signalled_at is not None else 0.0], device=device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() > 0 and self.signalled_at is not None:
            waited = time.monotonic() - self.signalled_at
            if waited > self.grace_s:
                log.error("stopping %.1fs after SIGTERM, past the %.0fs grace period", waited, self.grace_s)
        return bool(flag.item() > 0)
