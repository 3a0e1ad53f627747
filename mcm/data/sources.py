"""List the items of an input set, read through fsspec (local paths, ``gs://`` via gcsfs, ``s3://`` with s3fs).

Inputs a user has:
- a table (CSV or Parquet) with a path/URL column relative to ``root`` (or absolute), a caption column and
  an optional id column (WebVid: ``contentUrl``/``name``/``videoid``; LAION: ``URL``/``TEXT``);
- a folder of media files with captions in sidecar files (``clip.mp4`` + ``clip.txt``);
- webdataset tar shards (``*.tar``: ``key.mp4`` + ``key.json``/``key.txt``), read directly.

Tables and folders are cut into *work units* of ``rows_per_shard`` rows (unit k becomes output shard k);
each input tar is one unit. Rows that are bad before any download (no caption, wrong extension, duplicate
id) stay in their unit with a ``reject`` reason, so every input row is counted exactly once.
"""

from __future__ import annotations

import glob as globlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import fsspec

from mcm.data.tario import iter_shard

#: Sidecar caption extensions of folder inputs, in order of preference.
SIDECAR_EXTENSIONS = (".txt", ".json")
#: Caption keys looked up in a sample's json.
JSON_CAPTION_KEYS = ("caption", "text", "TEXT", "name")


@dataclass
class SourceItem:
    """One input row: an id, where the bytes are (``path``) or the bytes themselves, its caption, extras."""

    id: str
    path: str | None
    caption: str | None
    data: bytes | None = None
    reject: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkUnit:
    """Items that become one output shard; ``tar_url`` units are read lazily from an input shard."""

    index: int
    items: list[SourceItem] = field(default_factory=list)
    tar_url: str | None = None


def detect_format(input_url: str) -> str:
    """'csv', 'parquet', 'webdataset' or 'folder' from the input's name."""
    low = input_url.lower().split("?")[0]
    if low.endswith((".csv", ".tsv")):
        return "csv"
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(".tar") or "{" in low or any(p.endswith(".tar") for p in low.split(",")):
        return "webdataset"
    return "folder"


def resolve(root: str | None, path: str) -> str:
    """Absolute path or URL of ``path`` given an optional ``root``."""
    if root is None or "://" in path or os.path.isabs(path):
        return path
    return root.rstrip("/") + "/" + path


def _clean_caption(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN from pandas
        return None
    text = str(value).strip()
    return text or None


def read_table(url: str, fmt: str):
    """A pandas DataFrame of a CSV or Parquet file (strings kept as strings)."""
    import pandas as pd

    with fsspec.open(url, "rb") as f:
        if fmt == "parquet":
            return pd.read_parquet(f)
        return pd.read_csv(f, dtype=str, keep_default_na=False, sep="\t" if url.endswith(".tsv") else ",")


def table_items(url: str, fmt: str, root: str | None, path_column: str, caption_column: str,
                id_column: str | None, extra_columns: tuple[str, ...] = ()) -> list[SourceItem]:
    """Items of a CSV/Parquet table; raises ValueError naming a missing column."""
    df = read_table(url, fmt)
    for name, col in (("path_column", path_column), ("caption_column", caption_column)):
        if col not in df.columns:
            raise ValueError(f"{name}={col!r}: not a column of {url} (columns: {list(df.columns)})")
    use_id = id_column is not None and id_column in df.columns
    items = []
    for row in df.to_dict("records"):
        path = str(row[path_column]).strip() if row[path_column] is not None else ""
        item_id = str(row[id_column]) if use_id else path
        extra = {c: row[c] for c in extra_columns if c in df.columns}
        items.append(SourceItem(id=item_id, path=resolve(root, path) if path else None,
                                caption=_clean_caption(row[caption_column]), extra=extra))
    return items


def folder_items(url: str) -> list[SourceItem]:
    """Media files of a folder (sorted), captions from sidecar ``.txt``/``.json`` files of the same stem."""
    fs, base = fsspec.core.url_to_fs(url)
    names = sorted(p for p in fs.find(base) if not os.path.basename(p).startswith("."))
    by_stem: dict[str, list[str]] = {}
    for p in names:
        by_stem.setdefault(os.path.splitext(p)[0], []).append(p)
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    items = []
    for stem, paths in by_stem.items():
        sidecars = {os.path.splitext(p)[1]: p for p in paths if os.path.splitext(p)[1] in SIDECAR_EXTENSIONS}
        media = [p for p in paths if os.path.splitext(p)[1] not in SIDECAR_EXTENSIONS]
        caption = None
        for ext in SIDECAR_EXTENSIONS:
            if ext in sidecars:
                raw = fs.cat_file(sidecars[ext]).decode("utf-8", errors="replace")
                caption = _clean_caption(_json_caption(raw) if ext == ".json" else raw)
                break
        for p in media:
            rel = os.path.relpath(p, base)
            items.append(SourceItem(id=rel, path=protocol + p, caption=caption))
    return items


def _json_caption(raw: str) -> str | None:
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if isinstance(meta, dict):
        for k in JSON_CAPTION_KEYS:
            if k in meta:
                return meta[k]
    return None


def expand_shards(spec: str | list[str]) -> list[str]:
    """Shard URLs from a list, a comma list, a brace pattern ``a-{000..009}.tar`` or a local glob."""
    if isinstance(spec, list):
        return list(spec)
    out: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "{" in part:
            import braceexpand

            out.extend(braceexpand.braceexpand(part))
        elif any(ch in part for ch in "*?[") and "://" not in part:
            out.extend(sorted(globlib.glob(part)))
        else:
            out.append(part)
    return out


def tar_items(url: str, media_extensions: tuple[str, ...]) -> Iterator[SourceItem]:
    """Items of one input webdataset shard; media bytes inline, caption from ``txt`` or ``json``."""
    exts = tuple(e.lstrip(".") for e in media_extensions)
    for key, files in iter_shard(url):
        media = next((e for e in files if e in exts), None)
        caption = _clean_caption(files["txt"].decode("utf-8", errors="replace")) if "txt" in files else None
        meta: dict[str, Any] = {}
        if "json" in files:
            try:
                meta = json.loads(files["json"])
            except (json.JSONDecodeError, UnicodeDecodeError):
                meta = {}
            if caption is None and isinstance(meta, dict):
                caption = _clean_caption(next((meta[k] for k in JSON_CAPTION_KEYS if k in meta), None))
        item_id = str(meta.get("id", key)) if isinstance(meta, dict) else key
        item = SourceItem(id=item_id, path=f"{url}#{key}.{media}" if media else None, caption=caption,
                          data=files.get(media) if media else None,
                          extra=meta if isinstance(meta, dict) else {})
        if media is None:
            item.reject = "bad_extension"
        yield item


def mark_rejects(items: list[SourceItem], extensions: tuple[str, ...]) -> None:
    """Set ``reject`` on rows without a caption, with a wrong extension, or repeating an earlier id."""
    seen: set[str] = set()
    allowed = tuple(e.lower() for e in extensions)
    for it in items:
        if it.reject:
            continue
        if it.id in seen:
            it.reject = "duplicate_id"
        elif it.path is None:
            it.reject = "missing_path"
        elif it.caption is None:
            it.reject = "missing_caption"
        elif it.data is None and not _has_extension(it.path, allowed):
            it.reject = "bad_extension"
        seen.add(it.id)


def _has_extension(path: str, allowed: tuple[str, ...]) -> bool:
    name = path.split("?")[0].lower()
    return name.endswith(allowed)


def plan_units(input_url: str, fmt: str, rows_per_shard: int, **table_kw: Any) -> list[WorkUnit]:
    """Cut an input into work units (see module docstring). ``table_kw`` go to :func:`table_items`."""
    media_extensions = table_kw.pop("media_extensions")
    if fmt == "webdataset":
        return [WorkUnit(index=i, tar_url=u) for i, u in enumerate(expand_shards(input_url))]
    if fmt in ("csv", "parquet"):
        items = table_items(input_url, fmt, **table_kw)
    elif fmt == "folder":
        items = folder_items(input_url)
    else:
        raise ValueError(f"input_format={fmt!r}: expected csv, parquet, folder or webdataset")
    mark_rejects(items, media_extensions)
    return [WorkUnit(index=k, items=items[s:s + rows_per_shard])
            for k, s in enumerate(range(0, len(items), rows_per_shard))]


def fetch(item: SourceItem) -> bytes:
    """The item's bytes; raises OSError (incl. FileNotFoundError) when the path cannot be read."""
    if item.data is not None:
        return item.data
    try:
        with fsspec.open(item.path, "rb") as f:
            return f.read()
    except (OSError, ValueError, ImportError) as exc:  # ImportError: protocol whose filesystem is absent
        raise OSError(str(exc)) from exc
