"""Which process of a multi-process launch this is, and one object sent from rank 0 to every rank.

Launchers (``torchrun``, ``accelerate launch``) start one process per device and describe the launch in
the environment (``RANK``, ``WORLD_SIZE``); ``torch.distributed`` carries the messages once a process
group exists (HF ``Trainer`` / ``accelerate.PartialState`` create it). Nothing here imports torch: an
MLP-only sweep worker asks :func:`process_group` and gets ``None`` without loading it.

>>> launch_world({"RANK": "1", "WORLD_SIZE": "2"}), launch_world({})
((1, 2), (0, 1))
>>> broadcast_from_main("kept")  # one process: the value itself
'kept'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any


def launch_world(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process as its launcher set them; ``(0, 1)`` when run on its own."""
    environ = os.environ if environ is None else environ
    return int(environ.get("RANK", 0)), int(environ.get("WORLD_SIZE", 1))


def process_group():
    """``torch.distributed`` when a process group of more than one rank is running, else ``None``.

    torch is only looked up among the loaded modules: a process that never imported it runs alone.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return dist


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (``torch.distributed.broadcast_object_list``); alone: ``value``.

    Every rank must call it at the same point (a collective): a decision taken on rank 0 (prune this
    trial, this is the output folder) then holds on all ranks, which stay in step.
    """
    dist = process_group()
    if dist is None:
        return value
    box = [value if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
