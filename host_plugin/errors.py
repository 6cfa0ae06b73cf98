"""The host side's one root exception; each subclass names the file, clip or shot and what to do."""

from __future__ import annotations

__all__ = ["DreamStyleError", "TimelineError", "MediaNotFound", "EngineUnavailable", "SettingsError"]


class DreamStyleError(Exception):
    """Root of every error the host side reports to a user."""


class TimelineError(DreamStyleError):
    """A timeline file cannot be read, or holds nothing to render."""


class MediaNotFound(DreamStyleError):
    """A clip's media cannot be found; relink with --media-dir or --path-map."""


class EngineUnavailable(DreamStyleError):
    """No engine answers at the address given, or it refused the connection."""


class SettingsError(DreamStyleError):
    """A style setting is unusable (a style image that is not an image, a bad seed...)."""
