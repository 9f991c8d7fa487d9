"""Errors a person can act on.

Every error the playground raises on bad input derives from ``PlaygroundError``
(a ``ValueError``), carries a message that says what to do next, and is turned
into an ``error`` event by the engine, a non-zero exit by the CLI and a message
box by the app, never a traceback.
"""

__all__ = [
    "PlaygroundError",
    "ConfigError",
    "DatasetUnavailable",
    "CheckpointError",
    "WeightsUnavailable",
    "ExportError",
]


class PlaygroundError(ValueError):
    """Base class: bad input that the user can fix."""


class ConfigError(PlaygroundError):
    """A configuration value is out of range or unknown."""


class DatasetUnavailable(PlaygroundError):
    """A data set could not be loaded (offline, missing files, bad folder)."""


class CheckpointError(PlaygroundError):
    """A checkpoint is missing, corrupt or not one of ours."""


class WeightsUnavailable(PlaygroundError):
    """Pretrained weights are neither in the torch hub cache nor downloadable."""


class ExportError(PlaygroundError):
    """The model or run cannot be exported in the asked format."""
