"""fine_tune beyond one process: torchrun and accelerate launch (gloo, CPU) against one process.

The two-process runs launch ``tests/fixtures/ddp_fine_tune.py`` for real and are part of the default
``make test`` run (marked ``distributed``, never skipped; about 30-50 s each on 2 shared cores).

Tolerance. Each of the 2 processes trains on ``batch_size`` 8, so the global batch (16) is the one
process's; accelerate hands rank r the r-th half of each global batch of the same seeded order, and DDP
averages the two halves' gradients, which is the mean over the 16. Dropout is off, and 16 steps of 16
cover the 256 examples exactly (no partial batch). The runs therefore see the same examples at every
step, and only floating-point summation order differs (gradient all-reduce, batch-of-8 vs batch-of-16
kernels): losses and gradient norms agree to ``LOSS_RTOL`` (1e-4 relative), and accuracy to within one
validation example (``1 / 128``, in case a logit sits on the decision boundary). With dropout on, or a
per-device batch that is not the single process's divided by the processes, the runs differ by design
and only agree statistically.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest

from workbench import hardware
from workbench.errors import ParameterError, ResourceUnavailableError
from workbench.sweeps import objectives
from workbench.training import TrainConfig, training_arguments
from workbench.training.config import _launch_arguments
from workbench.training.distributed import _broadcast_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCRIPT = Path(__file__).parent / "fixtures" / "ddp_fine_tune.py"
LOSS_RTOL = 1e-4
N_VALIDATION = 128
ACCURACY_ATOL = 1 / N_VALIDATION
LAUNCH_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _script():
    spec = importlib.util.spec_from_file_location("ddp_fine_tune", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def one_process():
    """The fixture script's run in this process (world size 1, batch 16)."""
    script = _script()
    data = script._data()
    return {"train": script._train(data, 1), "prune": script._prune(data, 1, 0)}


def _launch(launcher: str, out: Path) -> list[dict]:
    port = str(_free_port())
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_addr", "127.0.0.1", "--master_port", port]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--main_process_ip", "127.0.0.1", "--main_process_port", port,
                   "--mixed_precision", "no", "--dynamo_backend", "no"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([*command, str(SCRIPT), str(out)], env=env, capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def _print_comparison(launcher: str, single: dict, first: dict) -> None:
    """What ``pytest -s`` shows: one process against rank 0 of two, metric by metric."""
    print(f"\n{launcher}: one process | rank 0 of two")
    for name in ("eval_loss", "eval_accuracy"):
        print(f"  {name}: {_metric(single['history'], name)} | {_metric(first['history'], name)}")
    gap = max(abs(a - b) / abs(a) for a, b in zip(_metric(single["history"], "loss"), _metric(first["history"], "loss")))
    print(f"  training loss, largest relative gap over {len(_metric(first['history'], 'loss'))} steps: {gap:.2e}")
    for key in ("best_metric", "validation_accuracy", "weights_abs_sum"):
        print(f"  {key}: {single[key]} | {first[key]}")


def _metric(history: dict, name: str) -> list[float]:
    frame = pd.DataFrame(history)
    return frame.loc[frame.metric == name, "value"].tolist()


@pytest.mark.distributed
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_processes_train_like_one_and_share_the_best_checkpoint(launcher, one_process, tmp_path):
    ranks = _launch(launcher, tmp_path)
    single = one_process["train"]
    _print_comparison(launcher, single, ranks[0]["train"])
    assert [r["world"] for r in ranks] == [2, 2]
    first, second = (r["train"] for r in ranks)
    # One run folder for both ranks, removed afterwards; every rank reloaded the best checkpoint from it.
    assert first["output_dir"] == second["output_dir"] and first["run_folder_removed"] and second["run_folder_removed"]
    assert first["best_model_checkpoint"] == second["best_model_checkpoint"]
    assert first["best_model_checkpoint"].startswith(first["output_dir"])
    assert first["weights_sum"] == second["weights_sum"] and first["history"] == second["history"]
    # Against one process with the same global batch: the tolerance of the module docstring.
    for name in ("loss", "grad_norm", "eval_loss"):
        assert _metric(first["history"], name) == pytest.approx(_metric(single["history"], name), rel=LOSS_RTOL), name
    assert _metric(first["history"], "eval_accuracy") == pytest.approx(
        _metric(single["history"], "eval_accuracy"), abs=ACCURACY_ATOL)
    assert first["best_metric"] == pytest.approx(single["best_metric"], abs=ACCURACY_ATOL)
    assert first["validation_accuracy"] == pytest.approx(single["validation_accuracy"], abs=ACCURACY_ATOL)
    assert first["weights_abs_sum"] == pytest.approx(single["weights_abs_sum"], rel=LOSS_RTOL)
    assert first["global_step"] == single["global_step"] == 16
    # A trial held by rank 0 only: its pruner's decision reached rank 1, both stopped at the first evaluation.
    pruned = [r["prune"] for r in ranks]
    assert [p["outcome"] for p in pruned] == [one_process["prune"]["outcome"]] * 2
    assert pruned[0]["outcome"].startswith("pruned after epoch 0")
    assert [p["last_step"] for p in pruned] == [2, 2]
    assert pruned[0]["reports"] == pytest.approx(one_process["prune"]["reports"]) and pruned[1]["reports"] is None


class _FakeGroup:
    """A process group of two ranks, seen from ``rank`` (the broadcast itself is patched separately)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def get_rank(self) -> int:
        return self.rank


def _always_prune_trial():
    class Always(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    study = optuna.create_study(direction="maximize", pruner=Always())
    return study, study.ask()


def test_rank_zero_decides_and_broadcasts_the_pruning(monkeypatch):
    sent = []
    monkeypatch.setattr(objectives, "process_group", lambda: _FakeGroup(0))
    monkeypatch.setattr(objectives, "broadcast_from_main", lambda value: sent.append(value) or value)
    study, trial = _always_prune_trial()
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1 at 0.5000"):
        objectives.report_epoch(trial, 0.5, 1)
    assert sent == ["pruned after epoch 1 at 0.5000"] and study.trials[0].intermediate_values == {1: 0.5}


def test_other_ranks_follow_rank_zero_without_a_trial(monkeypatch):
    monkeypatch.setattr(objectives, "process_group", lambda: _FakeGroup(1))
    monkeypatch.setattr(objectives, "broadcast_from_main", lambda value: "pruned after epoch 2 at 0.6000")
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 2"):
        objectives.report_epoch(None, 0.1, 2)
    # Rank 0 says go on: a rank holding a trial of its own does not consult it (rank 0's trial decides).
    monkeypatch.setattr(objectives, "broadcast_from_main", lambda value: None)
    _, trial = _always_prune_trial()
    objectives.report_epoch(trial, 0.1, 2)
    assert trial.study.trials[0].intermediate_values == {}


def test_a_torch_distributed_trial_is_asked_on_every_rank(monkeypatch):
    # Optuna's TorchDistributedTrial broadcasts inside report/should_prune, so every rank must call it
    # (no second broadcast of ours); this stand-in has its name and records the calls.
    class TorchDistributedTrial:
        calls: list = []

        def report(self, value, step):
            self.calls.append(("report", value, step))

        def should_prune(self):
            self.calls.append(("should_prune",))
            return True

        def set_user_attr(self, key, value):
            self.calls.append((key, value))

    monkeypatch.setattr(objectives, "process_group", lambda: _FakeGroup(1))
    monkeypatch.setattr(objectives, "broadcast_from_main", lambda value: pytest.fail("broadcast twice"))
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1"):
        objectives.report_epoch(TorchDistributedTrial(), 0.25, 1)
    assert TorchDistributedTrial.calls == [("report", 0.25, 1), ("should_prune",),
                                           ("reason", "pruned after epoch 1 at 0.2500")]


def test_cpu_processes_get_gloo_and_use_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "cuda_available", lambda: False)
    assert _launch_arguments(1) == {}
    assert _launch_arguments(2) == {"use_cpu": True, "ddp_backend": "gloo"}
    monkeypatch.setattr(hardware, "cuda_available", lambda: True)
    assert _launch_arguments(2) == {}  # GPUs: accelerate picks NCCL and a device per process


def test_a_run_folder_missing_on_another_rank_is_one_line(tmp_path):
    with pytest.raises(ResourceUnavailableError, match=r"^The temporary output folder of fine_tune made on rank 0 "
                                                       r"must be visible on every rank\. Got '/no/such', missing on "
                                                       r"rank 1, instead\. Pass output_dir=") as error:
        _broadcast_folder(Path("/no/such"), 1)
    assert "\n" not in str(error.value)
    assert _broadcast_folder(tmp_path, 0) == tmp_path  # one process: its own folder


def test_training_args_are_merged_last_and_workers_configurable(tmp_path):
    config = TrainConfig(max_steps=3, dataloader_num_workers=2,
                         training_args={"max_steps": 5, "dataloader_drop_last": True})
    args = training_arguments(config, tmp_path, precision={"bf16": False})
    assert (args.max_steps, args.dataloader_drop_last, args.dataloader_num_workers) == (5, True, 2)
    assert args.output_dir == str(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    (dict(training_args={"dataloader_drop_lst": True}), r"^The 'training_args' parameter of TrainConfig must name "
     r"transformers.TrainingArguments fields. Got 'dataloader_drop_lst' instead. Did you mean 'dataloader_drop_last'\?"),
    (dict(training_args={"output_dir": "x"}), r"'training_args' .* must not set 'output_dir'.* Got output_dir='x' "
     r"instead. Pass output_dir to fine_tune instead."),
    (dict(training_args=[("seed", 1)]), r"'training_args' parameter of TrainConfig must be of type Mapping"),
    (dict(dataloader_num_workers=-1), r"'dataloader_num_workers' parameter of TrainConfig must be an int in \[0, 64\]"),
])
def test_bad_training_args(kwargs, match):
    with pytest.raises(ParameterError, match=match) as error:
        TrainConfig(**kwargs)
    assert "\n" not in str(error.value)
