"""Multi-process data-parallel training under `torchrun` (PyTorch DistributedDataParallel).

`torchrun --nproc_per_node N -m sdk.train ...` sets WORLD_SIZE / RANK / LOCAL_RANK;
`setup()` reads them and joins the process group (gloo for CPU tensors, plus nccl
for CUDA tensors when a GPU is present). Without those variables everything here
is a no-op for a single process, so `python -m sdk.train` is unchanged.

Conventions used by `sdk.training.fit` and `sdk.train`:

* `TrainConfig.batch_size` stays the *global* batch per optimizer step; each rank
  takes a contiguous shard of every batch (see `shard`), so N processes take the
  same steps as one process.
* The shuffling / augmentation generator is seeded identically on every rank and
  advances identically, so all ranks agree on the permutation and augmentation.
* Rank 0 evaluates, decides early stopping, prints and writes files; the decision
  is broadcast so every rank stays in lockstep.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup() -> bool:
    """Join the process group if launched by torchrun with more than one process.

    Returns True when running distributed. Idempotent.
    """
    if env_world_size() <= 1:
        return False
    if not dist.is_initialized():
        backend = "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            backend = "cpu:gloo,cuda:nccl"
        dist.init_process_group(backend=backend)
    return True


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group() -> Iterator[bool]:
    """`setup()` on entry, `cleanup()` on exit: wrap a command's main (a no-op for one process)."""
    try:
        yield setup()
    finally:
        cleanup()


def active() -> bool:
    """True inside an initialized process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0 (or the only process): the one that prints, evaluates and writes."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def all_reduce_mean(value: float) -> float:
    """Mean of a Python float over ranks (the float itself for one process)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def broadcast(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s picklable `obj` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shard(n: int) -> tuple[int, int]:
    """[start, stop) of this rank's contiguous part of a global batch of n samples.

    Parts differ by at most one sample; with n < world size some ranks get none.
    """
    size, r = world_size(), rank()
    base, extra = divmod(n, size)
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel (unchanged for one process).

    DDP broadcasts rank 0's parameters at construction and averages gradients
    over ranks in `backward()`. Some spec options leave parameters out of the
    graph (e.g. no gating), hence find_unused_parameters.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = None
    param = next(model.parameters())
    if param.is_cuda:
        device_ids = [param.device.index]
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

