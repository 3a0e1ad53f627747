"""Shard-parallel processing with resume, and the manifest describing a prepared set.

Work is split by output shard: unit k of the input becomes ``{prefix}-{k:06d}.tar`` plus a stats file
``{prefix}-{k:06d}.json`` written after the shard. A shard whose stats exist (with the same config hash) is
done and skipped, so a rerun after preemption resumes, and a pipeline can fan out one task per group of
shards (``task_index``/``num_tasks``); a machine uses ``num_workers`` processes. When every shard is done,
``manifest.json`` is written: counts, items skipped by reason (bad input) and filtered by reason (policy,
e.g. low aesthetic score), and a content hash over the shards' SHA-256. It has no timestamps: a resumed
run writes the same manifest as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Literal, Sequence

import fsspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mcm.data.sources import WorkUnit
from mcm.data.tario import PARTIAL_DIR, Sample, atomic_write, join, sha256, tar_bytes

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
#: Config fields that do not change the content (where and how, not what): left out of the config hash.
RUNTIME_FIELDS = frozenset({"output", "num_workers", "task_index", "num_tasks", "max_bad_fraction"})


class ShardWorkConfig(BaseModel):
    """How a preparation job writes and splits its shards (shared by video ingestion and image filtering)."""

    model_config = ConfigDict(extra="forbid")
    rows_per_shard: int = Field(1000, ge=1, description="Input rows per output shard (work-split unit).")
    num_workers: int = Field(1, ge=1, description="Worker processes on this machine.")
    task_index: int = Field(0, ge=0, description="This task's index when the job fans out over tasks.")
    num_tasks: int = Field(1, ge=1, description="Number of tasks the shards are split over.")
    max_bad_fraction: float = Field(0.5, ge=0, le=1, description="Fail (exit 1) above this share of bad rows.")

    @model_validator(mode="after")
    def _check_task(self):
        if self.task_index >= self.num_tasks:
            raise ValueError(f"task_index={self.task_index} must be < num_tasks={self.num_tasks}")
        return self


class ShardRecord(BaseModel):
    """One output shard: its name, how many input rows it covered, what came out, what was dropped and why."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Shard file name inside the output folder.")
    num_input: int = Field(0, description="Input rows assigned to this shard.")
    num_samples: int = Field(0, description="Samples written.")
    skipped: dict[str, int] = Field(default_factory=dict, description="Bad input rows by reason.")
    filtered: dict[str, int] = Field(default_factory=dict, description="Rows removed by the filter policy.")
    sha256: str = Field("", description="SHA-256 of the shard bytes.")
    bytes: int = Field(0, description="Size of the shard in bytes.")
    config_hash: str = Field("", description="Hash of the config that produced it.")


class Manifest(BaseModel):
    """A prepared set: totals, per-reason counts, shards and a content hash."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["videos", "images"] = Field(..., description="What the shards hold.")
    complete: bool = Field(False, description="Every shard of the input is done.")
    num_input: int = Field(0, description="Input rows seen.")
    num_written: int = Field(0, description="Samples written.")
    skipped: dict[str, int] = Field(default_factory=dict, description="Bad input rows by reason.")
    filtered: dict[str, int] = Field(default_factory=dict, description="Rows removed by policy, by reason.")
    bad_fraction: float = Field(0.0, description="Skipped (bad) rows over input rows.")
    shards: list[ShardRecord] = Field(default_factory=list, description="Shards in order.")
    content_hash: str = Field("", description="SHA-256 over the shard names and hashes.")
    config: dict[str, Any] = Field(default_factory=dict, description="Config that produced the set.")

    def exceeds(self, max_bad_fraction: float) -> bool:
        """True when the share of bad input rows is above the limit."""
        return self.bad_fraction > max_bad_fraction


def config_hash(config: BaseModel) -> str:
    """Hash of the fields that determine the output."""
    data = config.model_dump(mode="json", exclude=set(RUNTIME_FIELDS))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def shard_name(prefix: str, index: int) -> str:
    """Idempotent shard file name."""
    return f"{prefix}-{index:06d}.tar"


def _stats_url(output: str, prefix: str, index: int) -> str:
    return join(output, f"{prefix}-{index:06d}.json")


def _load_done(output: str, prefix: str, index: int, chash: str) -> ShardRecord | None:
    url = _stats_url(output, prefix, index)
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path) or not fs.exists(path[: -len(".json")] + ".tar"):
        return None
    try:
        rec = ShardRecord.model_validate_json(fs.cat_file(path))
    except ValueError:
        return None
    return rec if rec.config_hash == chash else None


ProcessFn = Callable[[Any, WorkUnit], tuple[list[Sample], int, Counter, Counter]]


def _run_unit(process: ProcessFn, config: Any, unit: WorkUnit, output: str, prefix: str, chash: str) -> ShardRecord:
    samples, num_input, skipped, filtered = process(config, unit)
    data = tar_bytes(samples)
    name = shard_name(prefix, unit.index)
    atomic_write(join(output, name), data)
    rec = ShardRecord(name=name, num_input=num_input, num_samples=len(samples), skipped=dict(sorted(skipped.items())),
                      filtered=dict(sorted(filtered.items())), sha256=sha256(data), bytes=len(data),
                      config_hash=chash)
    atomic_write(_stats_url(output, prefix, unit.index), rec.model_dump_json(indent=1).encode())
    return rec


def run_units(kind: str, config: Any, units: Sequence[WorkUnit], process: ProcessFn, *, output: str, prefix: str,
              num_workers: int, task_index: int, num_tasks: int) -> Manifest:
    """Process this task's pending units (``index % num_tasks == task_index``), then build the manifest."""
    chash = config_hash(config)
    fs, out_path = fsspec.core.url_to_fs(output)
    fs.makedirs(out_path, exist_ok=True)
    records: dict[int, ShardRecord] = {}
    pending = []
    for unit in units:
        done = _load_done(output, prefix, unit.index, chash)
        if done is not None:
            records[unit.index] = done
        elif unit.index % num_tasks == task_index:
            pending.append(unit)
    log.info("%s: %d shards done, %d to do by this task", kind, len(records), len(pending))
    if num_workers > 1 and len(pending) > 1:
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=get_context("spawn")) as pool:
            futures = {u.index: pool.submit(_run_unit, process, config, u, output, prefix, chash) for u in pending}
            for index, fut in futures.items():
                records[index] = fut.result()
    else:
        for unit in pending:
            records[unit.index] = _run_unit(process, config, unit, output, prefix, chash)
    manifest = _build_manifest(kind, config, [records[u.index] for u in units if u.index in records], len(units))
    if manifest.complete:
        atomic_write(join(output, MANIFEST_NAME), manifest.model_dump_json(indent=1).encode())
        partial = f"{out_path}/{PARTIAL_DIR}"
        if fs.exists(partial) and not fs.ls(partial):
            fs.rm(partial, recursive=True)
    return manifest


def _build_manifest(kind: str, config: Any, records: list[ShardRecord], num_units: int) -> Manifest:
    skipped: Counter = Counter()
    filtered: Counter = Counter()
    for r in records:
        skipped.update(r.skipped)
        filtered.update(r.filtered)
    num_input = sum(r.num_input for r in records)
    bad = sum(skipped.values())
    content = hashlib.sha256("".join(f"{r.name}:{r.sha256}\n" for r in records).encode()).hexdigest()
    return Manifest(
        kind=kind, complete=len(records) == num_units, num_input=num_input,
        num_written=sum(r.num_samples for r in records), skipped=dict(sorted(skipped.items())),
        filtered=dict(sorted(filtered.items())), bad_fraction=bad / num_input if num_input else 0.0,
        shards=records, content_hash=content,
        config=config.model_dump(mode="json", exclude=set(RUNTIME_FIELDS)),
    )


def read_manifest(output: str) -> Manifest:
    """Load ``manifest.json`` of a prepared folder (local or URL)."""
    with fsspec.open(join(output, MANIFEST_NAME), "rb") as f:
        return Manifest.model_validate_json(f.read())
