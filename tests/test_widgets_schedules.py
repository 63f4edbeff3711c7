"""workbench.widgets.schedules: headless checks of the schedule explorer."""

from __future__ import annotations

import math
import re

import ipywidgets as widgets
import pytest

from workbench.errors import ParameterError
from workbench.widgets.schedules import EXPLORER_SCHEDULES, group_rates, schedule_explorer


def _table(html: str) -> list[list[str]]:
    """Rows of the explorer's numbers table (header first)."""
    body = html.split("<table", 1)[1]
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _peak(html: str, group: str) -> float:
    header, *rows = _table(html)
    row = next(r for r in rows if r[0] == group)
    return float(row[header.index("peak_lr")])


def test_controls_are_described_and_offer_every_time_based_schedule():
    explorer = schedule_explorer(steps=100, num_layers=2)
    assert set(explorer.controls) == {"schedule", "peak_lr", "warmup_fraction", "cycles", "min_lr_fraction",
                                      "llrd_decay", "num_layers", "steps", "warmup_lr_init", "cycle_limit",
                                      "cycle_decay"}
    assert all(control.description for control in explorer.controls.values())
    assert isinstance(explorer.controls["peak_lr"], widgets.FloatLogSlider)
    assert set(explorer.controls["schedule"].options) == set(EXPLORER_SCHEDULES)
    assert "reduce_lr_on_plateau" not in EXPLORER_SCHEDULES and "one_cycle" in EXPLORER_SCHEDULES


def test_llrd_factor_and_peak_rate_change_the_numbers_and_the_plot():
    explorer = schedule_explorer(schedule="linear", peak_lr=1e-3, llrd_decay=1.0, num_layers=2, steps=100)
    flat = explorer.html
    assert [row[0] for row in _table(flat)[1:]] == ["head", "layer_1", "layer_0", "embeddings"]
    assert _peak(flat, "embeddings") == pytest.approx(1e-3)
    decayed = explorer.set(llrd_decay=0.5)
    # Head keeps the peak; embeddings sit three levels below it: 0.5 ** 3.
    assert _peak(decayed, "head") == pytest.approx(1e-3) and _peak(decayed, "embeddings") == pytest.approx(1.25e-4)
    image = re.search(r'src="([^"]+)"', decayed).group(1)
    assert image != re.search(r'src="([^"]+)"', flat).group(1)
    assert _peak(explorer.set(peak_lr=1e-2), "head") == pytest.approx(1e-2, rel=1e-6)


def test_num_layers_sets_the_number_of_groups():
    explorer = schedule_explorer(num_layers=3, steps=50)
    assert len(_table(explorer.html)) - 1 == 3 + 2  # embeddings, 3 layers, head
    assert len(_table(explorer.set(num_layers=5))) - 1 == 7


@pytest.mark.parametrize("schedule, last", [
    # Closed forms at the last update (t = 199 of 200) with a floor of 0.2 x peak.
    ("cosine_with_min_lr", lambda floor: floor + (1e-3 - floor) * 0.5 * (1 + math.cos(math.pi * 199 / 200))),
    ("polynomial", lambda floor: floor + (1e-3 - floor) / 200),  # power 1: linear down to lr_end
])
def test_minimum_rate_sets_the_floor(schedule, last):
    rates = group_rates(schedule=schedule, peak_lr=1e-3, warmup_fraction=0.0, cycles=1, llrd_decay=1.0,
                        num_layers=1, steps=200, min_lr_fraction=0.2)
    head = rates[rates.group == "head"].set_index("step")["lr"]
    assert head.iloc[-1] == pytest.approx(last(2e-4))
    assert head.min() >= 2e-4 * (1 - 1e-9)


def test_cycles_count_the_restarts():
    def restarts(cycles):
        rates = group_rates(schedule="cosine_with_restarts", peak_lr=1e-3, warmup_fraction=0.0, cycles=cycles,
                            min_lr_fraction=0.0, llrd_decay=1.0, num_layers=1, steps=120)
        lr = rates[rates.group == "head"]["lr"].to_numpy()
        return int(((lr[1:] - lr[:-1]) > 5e-4).sum())  # jumps back up to the peak

    assert [restarts(c) for c in (1, 2, 4)] == [0, 1, 3]


def test_bad_combinations_show_one_line_instead_of_a_traceback():
    explorer = schedule_explorer(schedule="linear", steps=100)
    message = explorer.set(schedule="constant", warmup_fraction=0.2)
    assert 'class="wb-error"' in message and "Traceback" not in message
    assert "must be 0 for schedule &#x27;constant&#x27;" in message and "<img" not in message
    assert isinstance(explorer.last_error, ParameterError)
    recovered = explorer.set(warmup_fraction=0.0)
    assert "<img" in recovered and explorer.last_error is None


@pytest.mark.parametrize("kwargs, match", [
    ({"schedule": "reduce_lr_on_plateau"}, r"'schedule' parameter of schedule_explorer must be one of 'linear'"),
    ({"peak_lr": 0.0}, r"'peak_lr' parameter of schedule_explorer must be a finite number in \[1e-07, 1.0\]"),
    ({"warmup_fraction": 1.0}, r"'warmup_fraction' .* in \[0.0, 0.9\]. Got 1.0"),
    ({"llrd_decay": 1.5}, r"'llrd_decay' parameter of schedule_explorer .* in \[0.3, 1.0\]. Got 1.5"),
])
def test_bad_initial_values_are_refused(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        schedule_explorer(**kwargs)


@pytest.mark.parametrize("decay", [0.0, 1.2])
def test_llrd_factor_outside_0_1_is_refused_by_the_numbers(decay):
    with pytest.raises(ParameterError, match=r"'llrd_decay' parameter of schedule_explorer must be .* \(0.0, 1.0\]"):
        group_rates(schedule="linear", peak_lr=1e-3, warmup_fraction=0.0, cycles=1, min_lr_fraction=0.0,
                    llrd_decay=decay, num_layers=2, steps=10)


def test_timm_options_shape_the_timm_cosine_preview():
    common = {"schedule": "timm_cosine", "peak_lr": 1.0, "warmup_fraction": 0.1, "cycles": 2, "min_lr_fraction": 0.1,
              "llrd_decay": 1.0, "num_layers": 1, "steps": 100}
    rates = group_rates(**common, warmup_lr_init=0.5, cycle_limit=1, cycle_decay=0.5)
    head = rates[rates["group"] == "head"].set_index("step")["lr"]
    assert head[0] == pytest.approx(0.5)  # warmup starts at half the peak
    assert head[5] == pytest.approx(0.5 + 5 * 0.5 / 10)
    assert head[50:].tolist() == pytest.approx([0.1] * 50)  # after the cycle limit: the minimum rate
    decayed = group_rates(**common, cycle_limit=2, cycle_decay=0.5)
    second = decayed[decayed["group"] == "head"].set_index("step")["lr"]
    assert second[50] == pytest.approx(0.1 + 0.5 * (0.5 - 0.1) * 2)  # the second cycle peaks at half the first
