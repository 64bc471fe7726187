"""Errors a user can fix: each message names the file, field or config key, and the fix.

The command line prints these as one line (no traceback); anything else is a bug and keeps its
traceback.
"""


class LLMKGError(Exception):
    """Base class: bad input that the user can correct."""


class ConfigError(LLMKGError, ValueError):
    """A config key or value is wrong (unknown model, bad option, missing file in a key)."""


class DataError(LLMKGError, ValueError):
    """A data file is malformed or inconsistent (names the file and, where known, the line)."""


class DatasetFileNotFoundError(LLMKGError, FileNotFoundError):
    """A dataset file the model needs is missing."""


def require_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise a :class:`ConfigError` naming ``key`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(
            f"Config key '{key}' must be one of {', '.join(map(str, choices))}; got '{value}'. "
            f"Fix it in your YAML file or with --{key}=..."
        )


class OutputError(LLMKGError, OSError):
    """A file cannot be written: a read-only or foreign folder, or a full disk (names the path)."""


class CheckpointError(LLMKGError, ValueError):
    """A checkpoint file is missing, malformed, or holds objects that are unsafe to unpickle."""


class ServeError(LLMKGError, ValueError):
    """A request to a trained model is wrong: unknown id, bad k, empty text, unsupported use."""
