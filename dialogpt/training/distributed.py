"""Process-group set-up for one process, torchrun (single or multi-node) and
``torch.distributed.launch``.

The launcher tells us the topology through the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); ``torch.distributed.launch`` also passes
``--local-rank=N`` (``--local_rank`` on old versions), which wins for the local rank. The original
read only the flag and so ran every torchrun process on GPU 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from dialogpt.cli import UserError


@dataclass
class DistContext:
    """Where this process sits, and the few collectives the trainer needs.

    With ``world_size == 1`` no process group exists and every collective is the identity.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum ``values`` over processes (returns a tensor on ``values``' device)."""
        if not self.distributed:
            return values
        reduced = values.to(self.device)
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.to(values.device)

    def all_gather_object(self, obj: Any) -> list[Any]:
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        holder = [obj]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def raise_if_failed_anywhere(self, failure: Exception | None) -> None:
        """Re-raise this process's ``failure``, or a ``UserError`` if another process had one:
        a process that went on alone would wait for the others in its next collective."""
        reports = self.all_gather_object(None if failure is None else str(failure))
        if failure is not None:
            raise failure
        for rank, report in enumerate(reports):
            if report:
                raise UserError(f"set-up failed on process {rank}: {report}")

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` inside ``DistributedDataParallel`` when several processes train, else
        itself."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, gradient_as_bucket_view=True)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def shutdown(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise UserError(f"environment variable {name}={value!r} is not an integer") from exc


def init_distributed(local_rank_flag: int = -1, device_choice: str = "auto") -> DistContext:
    """Read the launcher's environment, pick the device, and join the process group."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = local_rank_flag if local_rank_flag >= 0 else _env_int("LOCAL_RANK", 0)
    if local_rank_flag >= 0 and "WORLD_SIZE" not in os.environ:
        raise UserError("--local_rank was given but WORLD_SIZE/RANK/MASTER_ADDR are not set; "
                        "start distributed runs with torchrun --nproc_per_node=N LSP_train.py ...")

    if device_choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available")
    use_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"local rank {local_rank} has no GPU: only "
                            f"{torch.cuda.device_count()} visible on this node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")

    backend = None
    if world_size > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            kwargs = {"device_id": device} if use_cuda else {}
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device,
                       backend=backend)
