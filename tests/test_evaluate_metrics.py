"""The project's metrics as local `evaluate` modules: they load offline and agree with scikit-learn.

conftest.py sets HF_HUB_OFFLINE=1; evaluate's modules cache is pointed at a scratch folder so the
tests write nothing outside it, and so a hub metric cached by an earlier session cannot answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from workbench.errors import ResourceUnavailableError
from workbench.metrics import LOCAL_METRICS, local_metric, metric_path

evaluate = pytest.importorskip("evaluate")


@pytest.fixture(scope="module", autouse=True)
def scratch_modules_cache(tmp_path_factory):
    # One folder for the whole module: evaluate imports `evaluate_modules` once per process.
    patch = pytest.MonkeyPatch()
    patch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path_factory.mktemp("hf_modules"))
    yield
    patch.undo()


def test_every_local_metric_has_its_script():
    for name in LOCAL_METRICS:
        assert (metric_path(name) / f"{name}.py").is_file()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_metrics_agree_with_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    truth, predicted = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    accuracy = local_metric("accuracy").compute(predictions=predicted.tolist(), references=truth.tolist())
    macro_f1 = local_metric("macro_f1").compute(predictions=predicted.tolist(), references=truth.tolist())
    assert accuracy == {"accuracy": pytest.approx(accuracy_score(truth, predicted))}
    assert macro_f1 == {"macro_f1": pytest.approx(f1_score(truth, predicted, average="macro"))}


def test_local_metrics_take_string_labels_and_load_with_plain_evaluate():
    truth, predicted = ["great", "other", "great", "other"], ["great", "great", "great", "other"]
    metric = evaluate.load(str(metric_path("macro_f1")), keep_in_memory=True)
    assert metric.compute(predictions=predicted, references=truth)["macro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="macro"))
    # A class never predicted scores 0, without scikit-learn's warning.
    assert metric.compute(predictions=[0, 0, 0], references=[0, 1, 1])["macro_f1"] == pytest.approx(0.25)


def test_a_hub_metric_offline_is_a_one_line_resource_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no ./bleu folder could stand in for the hub's
    expected = r"local_metric could not load the metric 'bleu' from the Hugging Face hub \(.*\)\. Check the name"
    with pytest.raises(ResourceUnavailableError, match=expected) as info:
        local_metric("bleu")
    assert "\n" not in str(info.value)


def test_the_metric_scripts_ship_with_the_package():
    # The script folders have no __init__.py; setuptools' packages.find (namespaces on by default in
    # pyproject.toml) still finds them, so wheels carry them (checked with `pip wheel` + `unzip -l`).
    import tomllib
    from pathlib import Path

    find_namespace_packages = pytest.importorskip("setuptools").find_namespace_packages

    root = Path(__file__).resolve().parents[1]
    find = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find.get("namespaces", True) is True
    found = find_namespace_packages(where=str(root), include=find["include"])
    assert {f"workbench.metrics.{name}" for name in LOCAL_METRICS} <= set(found)
