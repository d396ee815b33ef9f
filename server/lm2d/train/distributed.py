"""torchrun support: one process per device, DistributedDataParallel, rank 0 writes.

Launched plainly (no WORLD_SIZE in the environment) everything here degrades to a single
process with no process group.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lm2d.errors import LM2DError

# Rank 0 builds the dataset cache while the others wait; that can take a while on a big corpus.
_COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a user error."""
    if request not in ("auto", "cpu", "cuda"):
        raise LM2DError(f"--device must be auto, cpu or cuda, got {request!r}")
    if request == "cuda" and not torch.cuda.is_available():
        raise LM2DError("--device cuda: no CUDA device is available to torch")
    if request == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(device_request: str = "auto") -> DistContext:
    """Join torchrun's process group when launched by it (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_request, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world_size, timeout=_COLLECTIVE_TIMEOUT)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def gather_strings(ctx: DistContext, value: str) -> list[str]:
    """`value` from every rank, in rank order (just [value] without a process group)."""
    if not ctx.distributed:
        return [value]
    values: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(values, value)
    return [str(v) for v in values]


def parameter_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes in order: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def exit_worker(ctx: DistContext, code: int = 0) -> None:
    """End a torchrun worker. gloo workers can SIGABRT in interpreter teardown ("terminate called
    without an active exception"); leaving the group, flushing and os._exit avoids it."""
    if not ctx.distributed:
        return
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_as_worker(device: str, job: Callable[[DistContext], None]) -> int:
    """Run `job(ctx)` in this process: the only one, or one of torchrun's workers. A single process
    lets an LM2DError reach the CLI (one line, exit 2); a worker prints it, and every worker ends
    in exit_worker. Returns the exit code (a worker does not return)."""
    ctx = init_distributed(device)
    try:
        job(ctx)
        code = 0
    except LM2DError as err:
        if not ctx.distributed:
            raise
        print(f"error: {err}", file=sys.stderr)
        code = 2
    exit_worker(ctx, code)
    return code
