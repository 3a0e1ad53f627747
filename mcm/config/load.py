"""Resolve a preset name or YAML file plus ``--set key=value`` overrides into an :class:`MCMConfig`.

A YAML file may start with ``base: PRESET_OR_YAML`` to build on another preset; its other keys override.
Overrides use dotted keys of the schema (``optim.lr=1e-4``, ``distill.lambda_real=0``); values are parsed
as YAML scalars, so ``[1, 2]`` and ``true`` work.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from mcm.config.schema import MCMConfig

PRESET_PACKAGE = "mcm.config.presets"


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def _read_yaml_source(name_or_path: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name_or_path in _seen:
        raise ValueError(f"config: 'base' chain loops through {name_or_path!r}")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValueError(f"config: file {name_or_path!r} does not exist")
        text = path.read_text()
    elif name_or_path in preset_names():
        text = resources.files(PRESET_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text()
    else:
        raise ValueError(f"config: {name_or_path!r} is neither a YAML file nor a preset ({', '.join(preset_names())})")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config: {name_or_path!r} must hold a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    return deep_merge(_read_yaml_source(str(base), _seen + (name_or_path,)), data)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_key(model: type[BaseModel], dotted: str) -> None:
    """Raise ValueError if ``dotted`` is not a field path of the schema."""
    current: Any = model
    for i, part in enumerate(dotted.split(".")):
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            where = ".".join(dotted.split(".")[:i]) or "<top>"
            known = ", ".join(sorted(fields)) if fields else "(not a section)"
            raise ValueError(f"config: unknown key {dotted!r} ({part!r} is not a field of {where}; known: {known})")
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``, each key checked against the schema."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"config: override {pair!r} must look like key=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        _check_key(MCMConfig, key)
        value = yaml.safe_load(raw) if raw.strip() else None
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def _check_tree(model: type[BaseModel], tree: dict[str, Any], prefix: str = "") -> None:
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        _check_key(MCMConfig, dotted)
        annotation = model.model_fields[key].annotation
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _check_tree(annotation, value, dotted + ".")


def load_config(name_or_path: str | None = None, overrides: Iterable[str] = ()) -> MCMConfig:
    """Preset or YAML (or schema defaults when None) + dotted overrides -> validated config."""
    tree = _read_yaml_source(name_or_path) if name_or_path else {}
    tree = deep_merge(tree, parse_overrides(overrides))
    _check_tree(MCMConfig, tree)
    try:
        return MCMConfig.model_validate(tree)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"config: invalid value ({problems})") from None


def config_to_yaml(config: MCMConfig) -> str:
    """The resolved configuration as YAML (tuples written as lists)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def save_config(config: MCMConfig, path: str | Path) -> None:
    Path(path).write_text(config_to_yaml(config))
