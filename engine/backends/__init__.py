"""Stylization backends: one module each, found through the registry."""

from .base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, BackendConfig, BackendError, Guidance
from .registry import BACKENDS, DEFAULT_BACKEND, backend_class, create_backend

__all__ = [
    "TEXT",
    "STYLE_IMAGE",
    "FIRST_FRAME",
    "Backend",
    "BackendConfig",
    "BackendError",
    "Guidance",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "backend_class",
    "create_backend",
]
