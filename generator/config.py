"""Plain-dict round trip for the config dataclasses that travel inside checkpoints."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Self


class DictConfig:
    """Mixin for dataclasses: ``to_dict`` for saving, ``from_dict`` that refuses
    fields it does not know (a checkpoint of another version fails loudly)."""

    @classmethod
    def from_dict(cls, values: dict) -> Self:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)
