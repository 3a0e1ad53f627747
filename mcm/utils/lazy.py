"""Lazy package exports (PEP 562): a package names what it exports; modules load on first attribute access."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_getattr(package: str, sources: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``sources[name]`` (a module path) on first use of ``name``."""

    def __getattr__(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(sources[name]), name)
        namespace[name] = value
        return value

    return __getattr__
