"""One run folder for every rank of a ``torchrun`` / ``accelerate launch`` run.

HF ``Trainer`` saves checkpoints on rank 0 only and, with ``load_best_model_at_end``, every rank reloads
the best one from ``output_dir`` after a barrier. A temporary folder made by each process (``mkdtemp``)
therefore leaves ranks other than 0 without the best checkpoint, still holding the last weights. Here
rank 0 makes the folder and sends its path to the others (``torch.distributed.broadcast_object_list``
over the process group that building ``TrainingArguments`` starts), every rank trains into it, and rank
0 removes it once every rank has loaded the best checkpoint. On several machines the folder must be on
storage they share: pass ``output_dir``.

>>> with run_arguments(TrainConfig(max_steps=1), None, precision={"bf16": False}) as args:
...     Path(args.output_dir).is_dir()
True
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from workbench._distributed import broadcast_from_main, launch_world, process_group
from workbench.errors import ResourceUnavailableError
from workbench.training.config import TrainConfig, training_arguments

TEMP_PREFIX = "workbench-train-"


@contextlib.contextmanager
def run_arguments(config: TrainConfig, output_dir, *, precision):
    """``TrainingArguments`` writing into one folder that every rank shares, the folder removed afterwards.

    ``output_dir`` given: that folder, kept. ``None``: a temporary folder made on rank 0, its path
    broadcast to every rank, removed by rank 0 after a barrier once training has finished on all ranks.
    """
    rank, world = launch_world()
    owned = output_dir is None
    if owned:
        folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)) if rank == 0 else None
    else:
        folder = Path(output_dir)
    # Building the arguments starts the process group under a launcher (accelerate's PartialState).
    args = training_arguments(config, folder or Path(tempfile.gettempdir()) / TEMP_PREFIX, precision=precision)
    if owned and world > 1:
        folder = _broadcast_folder(folder, rank)
        args.output_dir = str(folder)
    finished = False
    try:
        yield args
        finished = True
    finally:
        if owned:
            dist = process_group()
            if finished and dist is not None:
                dist.barrier()  # every rank has loaded the best checkpoint before rank 0 removes it
            if rank == 0:
                shutil.rmtree(folder, ignore_errors=True)


def _broadcast_folder(folder: Path | None, rank: int) -> Path:
    shared = broadcast_from_main(None if folder is None else str(folder))
    if shared is None or not Path(shared).is_dir():
        raise ResourceUnavailableError(
            f"The temporary output folder of fine_tune made on rank 0 must be visible on every rank. Got "
            f"{shared!r}, missing on rank {rank}, instead. Pass output_dir= a folder all machines share.")
    return Path(shared)
