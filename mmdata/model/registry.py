"""Exact-name projector registry: ``name → (config model, module class)``.

No substring matching and no directory scanning: a projector exists when its module is imported by
:mod:`mmdata.model.projectors` and it called :func:`register` with its exact name.
"""

from __future__ import annotations

from mmdata.errors import MmdataError

PROJECTORS: dict[str, tuple[type, type]] = {}


def register(name: str, config_cls: type):
    """Class decorator: ``@register("c-abs", CAbsConfig)``."""

    def deco(cls: type) -> type:
        if name in PROJECTORS:
            raise ValueError(f"projector {name!r} registered twice")
        PROJECTORS[name] = (config_cls, cls)
        return cls

    return deco


def get(name: str, *, file=None, field: str | None = "projector.name") -> tuple[type, type]:
    import mmdata.model.projectors  # noqa: F401  (registers the built-in projectors)

    try:
        return PROJECTORS[name]
    except (KeyError, TypeError):
        raise MmdataError(f"unknown projector {name!r}; known: {', '.join(sorted(PROJECTORS))}", file=file, field=field) from None


def names() -> list[str]:
    import mmdata.model.projectors  # noqa: F401

    return sorted(PROJECTORS)
