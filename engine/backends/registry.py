"""Backend registry: names map to `module:Class` so listing backends never imports torch."""

from __future__ import annotations

import importlib

from .base import Backend, BackendConfig, BackendError

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "backend_class", "create_backend"]

BACKENDS: dict[str, str] = {
    "classic": "engine.backends.classic:ClassicBackend",
    "dreamstyle": "engine.backends.dreamstyle:DreamStyleBackend",
    "passthrough": "engine.backends.passthrough:PassthroughBackend",
    "vace": "engine.backends.vace:VaceBackend",
}
DEFAULT_BACKEND = "classic"


def backend_class(name: str) -> type[Backend]:
    """The class registered under `name`; BackendError lists the known names otherwise."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}.") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(name: str, config: BackendConfig | None = None) -> Backend:
    """Builds a ready backend, or raises BackendError saying what it still needs."""
    cls = backend_class(name)
    config = config or BackendConfig()
    missing = cls.missing(config)
    if missing:
        raise BackendError(f"backend {name!r} cannot run on this engine: needs {'; '.join(missing)}.")
    return cls(config)
