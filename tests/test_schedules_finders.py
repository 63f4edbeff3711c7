"""workbench.schedules finders and noise scale: known curvatures, known gradient noise, fastai's valley."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.errors import ParameterError
from workbench.schedules import (
    finder_report,
    measure_noise_scale,
    range_test_curve,
    simple_noise_scale,
    valley_rate,
)
from workbench.schedules.range_test import _suggestions


def _regression_range_test(curvature: float, seed: int):
    """Minibatch SGD on least squares whose Hessian is curvature * I: the best constant rate is
    1 / curvature and the largest stable one 2 / curvature."""
    g = torch.Generator().manual_seed(seed)
    n, d = 4096, 20
    x = torch.randn(n, d, generator=g) * curvature ** 0.5
    y = x @ torch.randn(d, generator=g) + 0.1 * torch.randn(n, generator=g)
    w = torch.nn.Parameter(torch.zeros(d))
    order = torch.randperm(n, generator=g)

    def loss(step: int, batch: int = 64):
        idx = order[(step * batch) % n:(step * batch) % n + batch]
        return 0.5 * ((x[idx] @ w - y[idx]) ** 2).mean()

    frame = range_test_curve(loss, torch.optim.SGD([w], lr=1.0), min_lr=1e-4 / curvature, max_lr=100 / curvature,
                             num_steps=100)
    return _suggestions(frame), frame


@pytest.mark.parametrize("curvature", [0.5, 2.0, 8.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_range_test_on_a_known_curvature(curvature, seed):
    suggestions, frame = _regression_range_test(curvature, seed)
    lowest = 10 * suggestions["min_loss_div_10"]
    # The loss bottoms out at the edge of stability 2/h (within a factor of 3), so minimum/10 lands
    # within a factor of 4 below the best rate 1/h, whatever the curvature; the sweep stops after the edge.
    assert 2 / curvature / 3 <= lowest <= 3 * 2 / curvature
    assert 1 / curvature / 4 <= suggestions["min_loss_div_10"] <= 1 / curvature
    assert frame["lr"].iloc[-1] < 100 / curvature  # it stopped at divergence


def test_valley_is_fastais_rule_on_a_known_curve():
    lrs = np.logspace(-5, 0, 10)
    losses = [1.0, 0.9, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4, 2.0, 3.0]  # longest fall: indices 0,1,3..7 (length 7)
    # fastai: end 7, start 7 - 7 = 0, sections 7/3 -> index 0 + 2 + 1 = 3
    assert valley_rate(lrs, losses) == pytest.approx(lrs[3])


def test_noise_scale_of_known_gradient_noise_is_recovered():
    rng = np.random.default_rng(0)
    d, sigma = 50, 0.5
    mean = np.zeros(d)
    mean[0] = 1.0
    pool = mean + sigma * rng.normal(size=(20000, d))  # per-example gradients: |G|^2 = 1, tr(Sigma) = d sigma^2
    truth = (pool.var(axis=0, ddof=0).sum()) / float(pool.mean(axis=0) @ pool.mean(axis=0))  # the pool's own, ~12.5
    found = measure_noise_scale(lambda idx: pool[idx].mean(axis=0), len(pool), batch_sizes=(8, 128), n_batches=300,
                                seed=0)
    assert found["b_simple"] == pytest.approx(truth, rel=0.15)
    assert found["trace_sigma"] == pytest.approx(d * sigma ** 2, rel=0.1)
    assert list(found["frame"]["batch_size"].unique()) == [8, 128]


def test_simple_noise_scale_closed_form_and_errors():
    # |G|^2 = 4, tr(Sigma) = 8: E|g_b|^2 = 4 + 8 / b
    found = simple_noise_scale([4 + 8 / 2], [4 + 8 / 16], small=2, big=16)
    assert (found["grad_sq"], found["trace_sigma"], found["b_simple"]) == pytest.approx((4.0, 8.0, 2.0))
    with pytest.raises(ParameterError, match="'big' parameter of simple_noise_scale .* Got 2 instead"):
        simple_noise_scale([1.0], [1.0], small=2, big=2)
    with pytest.raises(ParameterError, match="at least one value at each batch size. Got 0 and 1"):
        simple_noise_scale([], [1.0], small=2, big=4)


def test_finder_report_measures_distance_in_factors_of_ten():
    report = finder_report({"range_test_steepest": 1e-3, "range_test_valley": None, "short_horizon": 3e-5},
                           best_lr=1e-5)
    assert report["range_test_steepest"]["factor_from_best"] == pytest.approx(2.0)
    assert report["short_horizon"]["factor_from_best"] == pytest.approx(np.log10(3))
    assert report["range_test_valley"]["factor_from_best"] is None
    assert report["nearest"] == "short_horizon"
