"""Webdataset tar shards: a deterministic writer and a streaming reader (local paths or fsspec URLs).

A sample is a key plus files ``{key}.{ext}`` (webdataset convention: the key is the file name up to its
first dot). The writer fixes every tar header field (mtime 0, uid/gid 0, mode 0644, sorted extensions) so
the same samples always give byte-identical shards: shard names are idempotent and a resumed run produces
the same bytes as an uninterrupted one. Shards are written to a temporary name and renamed into place, so a
killed writer never leaves a truncated shard under a final name.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid
from typing import IO, Iterable, Iterator

import fsspec

#: Name of the folder (inside an output folder) that holds shards being written.
PARTIAL_DIR = ".partial"
#: Tar header mode of every member.
_MEMBER_MODE = 0o644

Sample = tuple[str, dict[str, bytes]]


def tar_bytes(samples: Iterable[Sample]) -> bytes:
    """Serialise samples to a deterministic tar (bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, files in samples:
            if "." in key or "/" in key:
                raise ValueError(f"sample key={key!r}: must not contain '.' or '/'")
            for ext in sorted(files):
                data = files[ext]
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(data), 0, _MEMBER_MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def join(base: str, name: str) -> str:
    """Join a folder URL or path and a name."""
    return base.rstrip("/") + "/" + name


def atomic_write(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` through a temporary name in the sibling ``.partial`` folder, then rename."""
    fs, path = fsspec.core.url_to_fs(url)
    parent, name = os.path.split(path)
    tmp = f"{parent}/{PARTIAL_DIR}/{name}.{uuid.uuid4().hex}"
    fs.makedirs(f"{parent}/{PARTIAL_DIR}", exist_ok=True)
    with fs.open(tmp, "wb") as f:
        f.write(data)
    if fs.protocol in ("file", ("file", "local")) or "file" in fs.protocol:
        os.replace(tmp, path)
    else:
        fs.mv(tmp, path)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def iter_tar(fileobj: IO[bytes]) -> Iterator[Sample]:
    """Stream samples ``(key, {ext: bytes})`` from an open tar file object, grouping consecutive members."""
    key: str | None = None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            folder, base = os.path.split(member.name)
            if base.startswith(".") or "." not in base:
                continue
            stem, ext = base.split(".", 1)
            k = f"{folder}/{stem}" if folder else stem
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if k != key and key is not None:
                yield key, files
                files = {}
            key = k
            files[ext] = data
    if key is not None:
        yield key, files


def iter_shard(url: str) -> Iterator[Sample]:
    """Stream the samples of one shard at a local path or fsspec URL."""
    with fsspec.open(url, "rb") as f:
        yield from iter_tar(f)
