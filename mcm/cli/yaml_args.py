"""The ``--config FILE --section a.b --set key=value`` arguments of the YAML-configured verbs (data, world).

Values of ``--set`` are parsed as YAML; a dotted key (``teacher.steps=3000``) sets a nested field.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

from mcm.config.load import apply_dotted_sets, select_section


def load_section(config: Optional[str], section: Optional[str]) -> dict[str, Any]:
    """The mapping at dotted key ``section`` of YAML file ``config`` (empty without a file)."""
    if not config:
        return {}
    with open(config, encoding="utf-8") as f:
        return select_section(yaml.safe_load(f) or {}, section, config)


def apply_sets(data: dict[str, Any], sets: Optional[list[str]]) -> dict[str, Any]:
    """``data`` with each ``key=value`` of ``sets`` applied (dotted keys reach nested mappings)."""
    return apply_dotted_sets(data, sets)
