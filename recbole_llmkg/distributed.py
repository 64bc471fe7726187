"""Multi-process data-parallel training: RecBole's ``nproc`` / ``world_size`` path, launched by us.

RecBole's own launcher lives in ``recbole.quick_start`` (which imports ray); this module does the
same with ``torch.multiprocessing.spawn``: every process builds the Config with its
``local_rank``, :meth:`recbole_llmkg.config.Config._init_device` joins the process group
(``ddp_backend``: gloo on CPU, nccl on CUDA by default), and RecBole's trainer wraps the model in
``DistributedDataParallel``. Each process trains on ``1 / world_size`` of every batch
(``train_batch_size`` stays the global batch) and evaluates a share of the users; the metrics are
averaged over processes, weighted by users. Rank 0 writes the checkpoint and returns the result.

    python run_recbole_llmkg.py -m LLMAugRec -d ml-100k --nproc 2                  # 2 CPU procs
    python run_recbole_llmkg.py -m KGLLMGNN -d ml-100k --nproc 4 --gpu_id=0,1,2,3  # 4 GPUs
"""

from __future__ import annotations

import os
import socket
from typing import Any

import torch
import torch.multiprocessing as mp

from recbole_llmkg.errors import ConfigError


def free_port() -> int:
    """A TCP port that is free on this host now (for the process group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def rank_config_dict(
    rank: int,
    config_dict: dict[str, Any] | None,
    nproc: int,
    world_size: int | None = None,
    ip: str = "localhost",
    port: int | str | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """The ``config_dict`` of process ``rank``: RecBole's distributed keys filled in."""
    if nproc < 1:
        raise ConfigError(f"Config key 'nproc' must be at least 1; got {nproc}.")
    return {
        **(config_dict or {}),
        "nproc": nproc,
        "world_size": nproc if world_size in (None, -1) else int(world_size),
        "ip": ip,
        "port": str(port),
        "offset": offset,
        "local_rank": rank,
    }


def run_rank(
    rank: int,
    model: str | type,
    dataset: str,
    config_file_list: list[str] | None,
    config_dict: dict[str, Any],
    saved: bool = True,
    cmd_args: list[str] | None = None,
):
    """Train and test in process ``rank`` (``config_dict`` from :func:`rank_config_dict`);
    returns the :class:`~recbole_llmkg.quick_start.Prepared` parts (model, trainer, ...) and
    the result dict, and leaves the process group.
    ``cmd_args`` are ``--key=value`` overrides (they cannot override the distributed keys)."""
    from recbole_llmkg.config import Config
    from recbole_llmkg.quick_start import prepare, train_and_test

    distributed = ("nproc", "world_size", "ip", "port", "offset", "local_rank")
    cmd_args = [a for a in cmd_args or [] if a[2:].split("=")[0] not in distributed]
    config = Config(model, dataset, config_file_list, {**config_dict, "local_rank": rank},
                    cmd_args=cmd_args)
    try:
        parts = prepare(config)
        return parts, train_and_test(parts, saved=saved)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _process(rank: int, queue, model, dataset, config_file_list, config_dict, saved,
             cmd_args) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(config_dict["nproc"])))
    _, result = run_rank(rank, model, dataset, config_file_list, config_dict, saved, cmd_args)
    if rank == 0:
        queue.put(result)


def run_distributed(
    model: str | type,
    dataset: str,
    nproc: int = 2,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    saved: bool = True,
    cmd_args: list[str] | None = None,
    world_size: int | None = None,
    ip: str = "localhost",
    port: int | None = None,
    offset: int = 0,
) -> dict[str, Any] | None:
    """Run one model with ``nproc`` data-parallel processes on this machine.

    Returns rank 0's result dict (as :func:`recbole_llmkg.run_recbole_llmkg`), or ``None`` on a
    machine whose processes do not include rank 0 (``offset > 0`` in a multi-machine group,
    where ``world_size`` counts every machine's processes and ``ip``/``port`` name rank 0's).
    """
    if world_size not in (None, -1) and int(world_size) > nproc and port is None:
        raise ConfigError(
            f"A group over several machines (world_size {world_size} > nproc {nproc}) needs "
            "the port of rank 0's machine on every machine: pass --port (and --ip)."
        )
    config_dict = rank_config_dict(0, config_dict, nproc, world_size, ip,
                                   port if port is not None else free_port(), offset)
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_process,
             args=(queue, model, dataset, config_file_list, config_dict, saved, cmd_args),
             nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()
