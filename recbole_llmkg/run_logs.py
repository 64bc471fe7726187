"""Where a run's RecBole logs go: under the run's own folder, never the working directory.

RecBole writes its text log to ``./log/<model>/`` (``init_logger``) and its TensorBoard events to
``./log_tensorboard/`` (``get_tensorboard``, called in ``Trainer.__init__``), both relative to the
working directory and not configurable: ten small boards left 644 files there. Here both go
under the config key ``log_root``: by default the run's ``checkpoint_dir`` (``saved/log/...``); a
board passes its results folder.

:func:`init_run_logger` replaces RecBole's ``init_logger`` (same format, level, file name and
colour filter; only the folder differs). The trainer cannot be told where TensorBoard writes, so
:func:`relocate_tensorboard` closes the writer RecBole opened, moves its folder under the log
root and opens a writer there (RecBole's writer has written nothing yet but the file header).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

LOG_ROOT_KEY = "log_root"


def log_root(config: Any) -> Path:
    """The folder that holds the run's ``log/`` and ``log_tensorboard/`` (absolute)."""
    root = config[LOG_ROOT_KEY] if LOG_ROOT_KEY in config else None
    return Path(str(root or config["checkpoint_dir"])).resolve()


def _level(state: Any) -> int:
    """RecBole's mapping of the ``state`` key to a logging level (INFO when unknown)."""
    names = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
             "error": logging.ERROR, "critical": logging.CRITICAL}
    return names.get(str(state).lower(), logging.INFO) if state is not None else logging.INFO


def init_run_logger(config: Any) -> Path:
    """RecBole's ``init_logger`` with the file under ``log_root(config)/log/<model>/``; returns
    the log file. As in RecBole, a process whose root logger has handlers keeps them."""
    import colorlog
    from colorama import init
    from recbole.utils.logger import RemoveColorFilter, log_colors_config
    from recbole.utils.utils import get_local_time

    init(autoreset=True)
    folder = log_root(config) / "log" / str(config["model"])
    folder.mkdir(parents=True, exist_ok=True)  # tolerant of runs started together
    digest = hashlib.md5(  # noqa: S324 - RecBole's file-name tag, not security
        "".join(str(v) for v in config.final_config_dict.values()).encode("utf-8")
    ).hexdigest()[:6]
    path = folder / f"{config['model']}-{config['dataset']}-{get_local_time()}-{digest}.log"
    level = _level(config["state"])
    file_handler = logging.FileHandler(path)
    file_handler.setLevel(level)
    file_handler.setFormatter(logging.Formatter("%(asctime)-15s %(levelname)s  %(message)s",
                                                "%a %d %b %Y %H:%M:%S"))
    file_handler.addFilter(RemoveColorFilter())
    stream_handler = logging.StreamHandler()
    stream_handler.setLevel(level)
    stream_handler.setFormatter(colorlog.ColoredFormatter(
        "%(log_color)s%(asctime)-15s %(levelname)s  %(message)s", "%d %b %H:%M",
        log_colors=log_colors_config))
    logging.basicConfig(level=level, handlers=[stream_handler, file_handler])
    return path


def relocate_tensorboard(writer: Any, config: Any) -> Any:
    """A SummaryWriter under ``log_root(config)/log_tensorboard/`` in place of ``writer``
    (RecBole's, under the working directory), whose folder is removed with its parent when
    that is left empty."""
    from torch.utils.tensorboard import SummaryWriter

    old = Path(writer.log_dir)
    target = log_root(config) / "log_tensorboard" / old.name
    if old.resolve() == target:
        return writer
    writer.close()
    shutil.rmtree(old, ignore_errors=True)
    try:
        old.parent.rmdir()  # only when no other run's folder is in it
    except OSError:
        pass
    return SummaryWriter(os.fspath(target))
