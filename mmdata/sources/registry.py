"""Exact-name registry of source adapters (no substring matching)."""

from __future__ import annotations

from mmdata.errors import MmdataError
from mmdata.sources.base import Adapter

_REGISTRY: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    if not adapter.name or adapter.name in _REGISTRY:
        raise ValueError(f"adapter name {adapter.name!r} is empty or already registered")
    _REGISTRY[adapter.name] = adapter
    return adapter


def get(name: str) -> Adapter:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MmdataError(f"unknown source {name!r}; known sources: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)
