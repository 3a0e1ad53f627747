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


def preset_names(package: str = PRESET_PACKAGE) -> list[str]:
    """Names of the presets shipped in ``package`` (a folder of YAML files)."""
    files = resources.files(package).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def read_yaml_source(name_or_path: str, package: str = PRESET_PACKAGE, _seen: tuple[str, ...] = (),
                     section: str | None = None) -> dict[str, Any]:
    """The mapping of a YAML file or of a preset of ``package`` (or of its dotted key ``section``, e.g. the
    ``distill`` section of params.yaml), with its ``base:`` chain merged in."""
    if name_or_path in _seen:
        raise ValueError(f"config: 'base' chain loops through {name_or_path!r}")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValueError(f"config: file {name_or_path!r} does not exist")
        text = path.read_text()
    elif name_or_path in preset_names(package):
        text = resources.files(package).joinpath(f"{name_or_path}.yaml").read_text()
    else:
        raise ValueError(
            f"config: {name_or_path!r} is neither a YAML file nor a preset ({', '.join(preset_names(package))})"
        )
    data = yaml.safe_load(text) or {}
    data = select_section(data, section, name_or_path)
    base = data.pop("base", None)
    if base is None:
        return data
    return deep_merge(read_yaml_source(str(base), package, _seen + (name_or_path,)), data)


def select_section(data: Any, section: str | None, source: str) -> dict[str, Any]:
    """The mapping at dotted key ``section`` of YAML ``data`` read from ``source`` (all of it without one)."""
    for part in (section or "").split("."):
        if part:
            if not isinstance(data, dict) or part not in data:
                raise ValueError(f"--section {section!r}: no key {part!r} in {source}")
            data = data[part]
    if not isinstance(data, dict):
        raise ValueError(f"{source}{f' section {section!r}' if section else ''} must hold a mapping")
    return dict(data)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_dotted_sets(data: dict[str, Any], sets: Iterable[str] | None) -> dict[str, Any]:
    """``data`` with each ``key=value`` of ``sets`` applied in place (values parsed as YAML; a dotted key
    reaches a nested mapping, creating it). No schema check: the caller validates the result."""
    for item in sets or ():
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        node = data
        *path, leaf = key.strip().split(".")
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {part!r} is not a section")
        node[leaf] = yaml.safe_load(raw) if raw.strip() else None
    return data


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


def load_config(name_or_path: str | None = None, overrides: Iterable[str] = (), section: str | None = None) -> MCMConfig:
    """Preset or YAML (its dotted key ``section`` if given; schema defaults when None) + dotted overrides ->
    validated config."""
    tree = read_yaml_source(name_or_path, section=section) if name_or_path else {}
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
