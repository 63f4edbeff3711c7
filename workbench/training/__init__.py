"""Fine-tune sequence classifiers with HF ``Trainer`` from one config object, recording a tidy history.

``transformers.Trainer`` does the training; this package chooses sensible CPU defaults, turns one
:class:`TrainConfig` into ``TrainingArguments`` (``config``), adds a callback that records every logged
value (loss, learning rate per parameter group, gradient norm, evaluation metrics) as tidy rows
(``callbacks``), runs the same way in one process or under ``torchrun`` / ``accelerate launch``
(``trainer``, ``distributed``), and predicts wherever the model lives (``predict``).

>>> from workbench.data import load_dataset
>>> from workbench.models import load_model
>>> data = load_dataset(max_examples=64)
>>> model, tok = load_model("tiny:num_layers=1,hidden_size=32", num_labels=2)
>>> result = fine_tune(model, tok, data, TrainConfig(max_steps=4, batch_size=8, progress=False))
>>> sorted(result.history.columns)
['epoch', 'metric', 'step', 'value']

Several processes (gloo on CPUs, NCCL on GPUs): each trains on ``batch_size`` examples a step, so the
global batch is ``batch_size`` x processes; halve ``batch_size`` to train like one process::

    torchrun --nproc_per_node 2 my_script.py          # my_script.py calls fine_tune as usual
    accelerate launch --multi_gpu --num_processes 2 my_script.py
"""

from workbench.training.callbacks import HISTORY_COLUMNS, HistoryCallback
from workbench.training.config import (
    BEST_METRICS,
    SCHEDULER_TYPES,
    TrainConfig,
    _precision_arguments,  # noqa: F401 (private, imported from here by the hardware tests)
    training_arguments,
)
from workbench.training.plots import plot_history
from workbench.training.predict import predict_logits, tokenize_split
from workbench.training.trainer import TrainResult, fine_tune

__all__ = ["BEST_METRICS", "HISTORY_COLUMNS", "SCHEDULER_TYPES", "HistoryCallback", "TrainConfig", "TrainResult",
           "fine_tune", "plot_history", "predict_logits", "tokenize_split", "training_arguments"]
