"""Weights named by a local folder or a Hugging Face hub id: one clear error when neither is available.

``from_pretrained`` of diffusers / transformers, offline or without the files, raises an OSError (or a
hub error deriving from it) several frames deep; a user should instead read which field named the weights,
that the value is neither a local folder nor reachable on the hub, and how to fetch them.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

#: Seconds to wait for the hub's host before deciding it is unreachable (instead of the hub client's retries).
HUB_PROBE_TIMEOUT_S = 3.0
#: Files whose presence in the hub cache shows a repository was downloaded before.
CACHE_MARKERS = ("model_index.json", "config.json")


class WeightsNotFoundError(ValueError):
    """The weights a config field names are neither a local folder nor reachable on the hub."""


def missing_weights_message(field: str, value: str) -> str:
    """One line: what is missing and how to get it."""
    local = Path(value).expanduser()
    if local.exists() or value.startswith((".", "/", "~")):
        return (f"{field}={value!r}: the local folder is missing or incomplete (expected a diffusers / transformers "
                f"folder with config and safetensors files)")
    target = f"models/{value.split('/')[-1]}"
    return (f"{field}={value!r} is neither a local folder nor reachable on the Hugging Face hub (offline?): fetch it "
            f"on a machine with network, `huggingface-cli download {value} --local-dir {target}`, then "
            f"--set {field}={target}")


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in CACHE_MARKERS)
    except Exception:  # not a valid repo id
        return False


def _hub_reachable() -> bool:
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=HUB_PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def check_weights_available(field: str, value: str) -> None:
    """Fail fast (one line) when ``value`` is not a local folder, not in the hub cache and the hub is unreachable
    (the hub client would otherwise retry for tens of seconds before failing)."""
    if Path(value).expanduser().exists() or os.environ.get("HF_HUB_OFFLINE") or _in_hub_cache(value):
        return
    if value.startswith((".", "/", "~")) or not _hub_reachable():
        raise WeightsNotFoundError(missing_weights_message(field, value))


@contextlib.contextmanager
def weights_from(field: str, value: str) -> Iterator[None]:
    """Run a ``from_pretrained`` block; weights that are neither local, cached nor reachable, or an OSError
    (files missing), become a one-line :class:`WeightsNotFoundError` naming ``field`` and ``value``."""
    check_weights_available(field, value)
    try:
        yield
    except OSError as err:
        raise WeightsNotFoundError(missing_weights_message(field, value)) from err
