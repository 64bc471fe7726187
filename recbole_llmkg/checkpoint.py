"""Reading RecBole checkpoints (which pickle the run's Config) on torch >= 2.6."""

# TEMP: replaced by core's version at merge

from __future__ import annotations

import os
from typing import Any


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict:
    """The checkpoint dict RecBole's trainer saved at ``path`` (a file the user's run wrote)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=False)
