"""Knowledge distillation of a smaller student from the fine-tuned teacher."""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from workbench import hardware
from workbench._validation import check_float
from workbench.compression.config import Variant
from workbench.compression.runners import (
    _length_sorted_batches,
    _torch_runner,
    predict_variant,
)
from workbench.errors import DataError, ParameterError

# --------------------------------------------------------------------------------------------
# Distillation and quantization-aware training


def _student_model(teacher, spec: str, *, num_labels: int, tokenizer, seed: int):
    """A student from ``"layers:N"`` (teacher layers, evenly spaced) or a ``"tiny:..."`` spec."""
    from workbench.models import load_model

    if spec.startswith("tiny"):
        student, _ = load_model(spec, num_labels=num_labels, tokenizer=tokenizer, seed=seed)
        student.config.id2label, student.config.label2id = teacher.config.id2label, teacher.config.label2id
        return student
    n_layers = int(spec.split(":")[1])
    layers = _encoder_layer_list(teacher)
    if not 1 <= n_layers <= len(layers):
        raise ParameterError(f"The 'student' parameter must keep 1 to {len(layers)} teacher layers. "
                             f"Got {spec!r} instead.")
    student = copy.deepcopy(teacher)
    kept = sorted({int(round(i)) for i in np.linspace(0, len(layers) - 1, n_layers)})
    student_layers = _encoder_layer_list(student)
    del student_layers[len(kept):]
    for position, index in enumerate(kept):
        student_layers[position] = copy.deepcopy(layers[index])
    student.config.num_hidden_layers = len(kept)
    return student


def _encoder_layer_list(model):
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise ParameterError(f"The teacher must have an encoder with a 'layer' list (BERT-style). "
                             f"Got {type(model).__name__} instead. Use a 'tiny:...' student.")
    return layers


def distill_student(teacher, tokenizer, train, *, student: str = "layers:2", temperature: float = 2.0,
                    alpha: float = 0.5, epochs: float = 1.0, learning_rate: float = 3e-4, max_length: int = 128,
                    batch_size: int = 16, seed: int = 0, progress: bool = False):
    """Train a small student on the teacher's softened logits and the gold labels (Hinton et al. 2015).

    The loss is ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)``; the
    teacher's logits are computed once before training (texts batched by length). HF ``Trainer`` runs
    the loop (a subclass overrides ``compute_loss``; length-grouped batches keep padding low).

    Parameters
    ----------
    teacher, tokenizer
        The fine-tuned classifier and its tokenizer (the student shares the tokenizer).
    train : datasets.Dataset
        ``text`` and ``label`` columns.
    student : str
        ``"layers:N"`` copies N evenly spaced teacher layers (DistilBERT's initialisation; embeddings
        and head copied too) or ``"tiny:..."`` builds a random small encoder.

    Examples
    --------
    >>> small = distill_student(teacher, tok, data["train"], student="layers:1")  # doctest: +SKIP
    >>> small.config.num_hidden_layers   # doctest: +SKIP
    1
    """
    import torch
    import torch.nn.functional as F
    from transformers import (
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    from workbench.models import quiet_transformers
    from workbench.training import tokenize_split

    func = "distill_student"
    check_float("temperature", temperature, func, low=0.0, low_open=True, high=100.0)
    check_float("alpha", alpha, func, low=0.0, high=1.0)
    check_float("epochs", epochs, func, low=0.0, low_open=True)
    if len(train) == 0:
        raise DataError(f"The 'train' parameter of {func} must hold at least one example. Got 0 instead.")
    model = _student_model(teacher, student, num_labels=teacher.config.num_labels, tokenizer=tokenizer, seed=seed)
    texts = list(train["text"])
    batches = _length_sorted_batches(tokenizer, texts, max_length=max_length, batch_size=32)
    teacher_variant = Variant(name="teacher", method="precision", runner=_torch_runner(teacher))
    soft = predict_variant(teacher_variant, batches, len(texts), threads=torch.get_num_threads())
    dataset = tokenize_split(train, tokenizer, max_length=max_length).add_column("teacher_logits", soft.tolist())

    class _DistillationTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            target = inputs.pop("teacher_logits")
            outputs = model(**inputs)
            kd = F.kl_div(F.log_softmax(outputs.logits / temperature, dim=-1),
                          F.softmax(target / temperature, dim=-1), reduction="batchmean") * temperature ** 2
            loss = alpha * kd + (1 - alpha) * outputs.loss
            return (loss, outputs) if return_outputs else loss

    with tempfile.TemporaryDirectory(prefix="workbench-distill-") as workdir:
        args = TrainingArguments(output_dir=workdir, learning_rate=learning_rate, num_train_epochs=epochs,
                                 per_device_train_batch_size=batch_size, warmup_steps=0.1, seed=seed,
                                 data_seed=seed, save_strategy="no", eval_strategy="no", report_to="none",
                                 disable_tqdm=not progress, logging_strategy="no", remove_unused_columns=False,
                                 train_sampling_strategy="group_by_length",  # similar lengths: little padding
                                 dataloader_pin_memory=False, use_cpu=not hardware.cuda_available())
        trainer = _DistillationTrainer(model=model, args=args, train_dataset=dataset,
                                       data_collator=DataCollatorWithPadding(tokenizer))
        trainer.remove_callback(PrinterCallback)  # it would print the final metrics dict
        with quiet_transformers():
            trainer.train()
    return trainer.model.eval()


_STUDENT_MARKER = "workbench_student.json"
_STUDENT_FORMAT = 1  # bump when distill_student's training changes, so older cached students are not reused


def _fingerprint(model, train) -> dict[str, str]:
    """SHA-256 of the teacher's weights (names and bytes) and of the training texts and labels."""
    import torch

    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    rows = json.dumps([list(train["text"]), [int(y) for y in train["label"]]]).encode()
    return {"teacher": weights.hexdigest(), "data": hashlib.sha256(rows).hexdigest()}


def cached_student(teacher, tokenizer, train, *, cache_dir=None, **settings) -> tuple[object, bool]:
    """:func:`distill_student`, kept in ``cache_dir`` (None: no cache): returns ``(student, cached)``.

    The key hashes the teacher's weights, the training texts and labels, every setting and the torch
    and transformers versions, so a change to any of them distils afresh. The copy is written like
    the baseline's (``save_pretrained`` into a temporary folder, then renamed into place).
    """
    import torch
    import transformers

    from workbench.compression.baseline import _save_atomic
    from workbench.models import load_model

    if cache_dir is None:
        return distill_student(teacher, tokenizer, train, **settings), False
    source = {"format": _STUDENT_FORMAT, "settings": settings, **_fingerprint(teacher, train),
              "torch": torch.__version__, "transformers": transformers.__version__}
    key = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "students" / key
    if (folder / _STUDENT_MARKER).exists():
        labels = [teacher.config.id2label[i] for i in range(teacher.config.num_labels)]
        student, _ = load_model(str(folder), num_labels=teacher.config.num_labels, label_names=labels)
        return student.to(next(teacher.parameters()).device).eval(), True
    student = distill_student(teacher, tokenizer, train, **settings)
    _save_atomic(student, tokenizer, folder, source, marker=_STUDENT_MARKER)
    return student, False
