"""The base of every typed config section: unknown keys and invalid assignments are errors naming the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
