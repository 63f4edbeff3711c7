"""Every widget of ``workbench.widgets`` in a real JupyterLab: display it, change an input the way a
user does (type, move a slider, pick from a list), and see the output change.

Each test writes a small scratch notebook (the widget on small inputs: the technique notebooks
themselves are too slow to run in a browser on 2 cores), runs it in Lab, interacts, and checks
that the browser console and the kernel stayed quiet. A new widget gets a test here and its name
in ``COVERED``; :func:`test_every_widget_has_a_browser_test` fails until it does.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from workbench.widgets import _EXPORTS

pytestmark = pytest.mark.e2e

PROBE = "<img src=x onerror=alert(1)>"
TIMEOUT = 120  # seconds for a re-render in the kernel; generous, the CPU is shared

# Widget name -> the test that drives it in the browser.
COVERED = {
    "tokenizer_explorer": "test_token_viewer_reacts_to_text_vocabulary_and_choice",
    "schedule_explorer": "test_schedule_explorer_redraws_for_schedule_and_warmup",
    "augmentation_explorer": "test_augmentation_explorer_shows_escaped_variants",
    "compression_explorer": "test_compression_explorer_recommendation_follows_tolerance",
    "sweep_monitor": "test_sweep_monitor_follows_an_external_worker",
}


def test_every_widget_has_a_browser_test():
    present = [name for module, names in _EXPORTS.items() if module != "_common"
               and importlib.util.find_spec(f"workbench.widgets.{module}") is not None for name in names]
    assert present, "workbench.widgets exports no widget"
    missing = [name for name in present if name not in COVERED]
    assert not missing, f"widgets without a browser test: {missing}"
    assert all(test in globals() for test in COVERED.values())


# --------------------------------------------------------------------------------------------
# Helpers


def _output(page):
    """The explorer's result pane."""
    return page.locator(".wb-explorer .wb-output").first


def _settle(page, condition: str = "true", *, before: str | None = None, timeout: float = TIMEOUT) -> str:
    """Wait until no render is pending, the pane's HTML differs from ``before`` (when given) and the
    JavaScript expression ``condition`` (over ``pane``, the result pane) holds; return the HTML.

    Waiting for the expected end state, not just for any change: several quick inputs may cause
    an intermediate render on a busy machine.
    """
    page.wait_for_function(
        f"""([before]) => {{
            const pane = document.querySelector('.wb-explorer .wb-output');
            const busy = document.querySelector('.wb-explorer .wb-busy');
            return Boolean(pane && !busy && (before === null || pane.innerHTML !== before) && ({condition}));
        }}""", arg=[before], timeout=timeout * 1000, polling=200)
    return _output(page).inner_html()


def _assert_quiet(notebook, page) -> None:
    """No kernel error, no error in the pane, no console error, no dialog, no parsed probe, and
    every plot fits in the output area (a cut-off plot hides half the answer)."""
    assert notebook.kernel_problems() == []
    overflow = page.evaluate("""() => [...document.querySelectorAll('.wb-explorer .wb-output img')].map(img => {
        const pane = img.closest('.wb-output').getBoundingClientRect();
        return img.getBoundingClientRect().right - pane.right; }).filter(px => px > 1)""")
    assert overflow == [], f"plots wider than the output area by {overflow} px"
    assert page.locator(".wb-explorer .wb-error").count() == 0, _output(page).inner_text()
    assert page.locator("text=Error displaying widget").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    notebook.watched.assert_clean()


def _record_activity(page) -> None:
    """From now on, count result-pane renders and busy markers shown (a MutationObserver)."""
    page.evaluate("""() => {
        const root = document.querySelector('.wb-explorer');
        const seen = window.wbActivity = {renders: 0, busy: 0};
        new MutationObserver(records => records.forEach(record => {
            if (record.target.closest('.wb-output') && record.target.classList.contains('widget-html-content')) {
                seen.renders += 1;
            }
            record.addedNodes.forEach(node => {
                if (node.nodeType === 1 && (node.matches('.wb-busy') || node.querySelector('.wb-busy'))) seen.busy += 1;
            });
        })).observe(root, {childList: true, subtree: true});
    }""")


def _activity(page) -> dict[str, int]:
    return page.evaluate("() => window.wbActivity")


def _readout(page, label: str) -> str:
    """The value a slider shows next to it."""
    slider = page.locator(".wb-explorer .widget-slider").filter(has_text=label).first
    return slider.locator(".widget-readout").inner_text().strip()


def _press_slider(page, label: str, key: str, times: int = 1) -> None:
    """Focus the slider whose description is ``label`` and press ``key`` on its handle."""
    slider = page.locator(".wb-explorer .widget-slider").filter(has_text=label).first
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


# --------------------------------------------------------------------------------------------
# Token viewer


def _token_counts(page) -> dict[str, int]:
    rows = page.locator(".wb-output table.wb-token-table tr")
    counts = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        match = re.match(r"(\d+) tokens", row.locator(".wb-count").inner_text())
        counts[row.locator("th").inner_text()] = int(match.group(1))
    return counts


def test_token_viewer_reacts_to_text_vocabulary_and_choice(scratch_notebook, open_notebook, probe_csv, screenshot):
    path = scratch_notebook([
        "import pandas as pd\n"
        "from workbench.widgets import tokenizer_explorer\n"
        f"corpus = pd.read_csv({json.dumps(str(probe_csv))})['review'].tolist()[:60]",
        "viewer = tokenizer_explorer(corpus=corpus, algorithms=['bpe'], pretrained=['cl100k_base'],\n"
        "                            vocab_size=250, text='The cookies were crunchy.', debounce=0.3)\n"
        "viewer",
    ])
    notebook = open_notebook(path)
    page = notebook.page
    notebook.run_all()
    pane = _output(page)
    pane.locator(".wb-token").first.wait_for(timeout=TIMEOUT * 1000)
    before = pane.inner_html()
    first = _token_counts(page)
    assert set(first) == {"bpe (250)", "cl100k_base"} and all(n > 0 for n in first.values())

    # Typing: the text box sends each keystroke to the kernel; renders follow, debounced.
    typed = f"{PROBE} Delicious peanut butter cookies, crunchy and fresh!"
    box = page.locator(".wb-explorer textarea").first
    box.click()
    box.press("Control+a")
    _record_activity(page)
    box.press_sequentially(typed, delay=20)
    # The spans of cl100k_base spell the typed text back (spaces are drawn as middle dots).
    after_typing = _settle(page, f"""[...pane.querySelectorAll('tr')].some(row =>
        row.querySelector('th').textContent === 'cl100k_base' &&
        row.querySelector('.wb-tokens').textContent.replaceAll('\\u00b7', ' ') === {json.dumps(typed)})""",
                           before=before)
    # Debounced: far fewer renders than keystrokes, and the busy marker showed while it worked.
    activity = _activity(page)
    assert 1 <= activity["renders"] <= len(typed) // 4 and activity["busy"] >= 1, activity
    counts = _token_counts(page)
    assert counts != first and counts["cl100k_base"] > first["cl100k_base"]
    # The probe shows as text and was never parsed as an element.
    shown = page.locator(".wb-output tr").filter(has_text="cl100k_base").locator(".wb-tokens").inner_text()
    assert shown.replace("\u00b7", " ") == typed
    assert page.locator('img[src="x"]').count() == 0

    # The vocabulary slider retrains BPE: a larger vocabulary cuts the same text into fewer tokens.
    _press_slider(page, "Vocab size", "ArrowRight", times=3)  # 250 -> 500 -> 1000 -> 2000
    _settle(page, "pane.querySelector('th').textContent === 'bpe (2000)'", before=after_typing)
    retrained = _token_counts(page)
    assert retrained["bpe (2000)"] < counts["bpe (250)"]
    assert retrained["cl100k_base"] == counts["cl100k_base"]
    screenshot(page.locator(".wb-explorer").first, "token-viewer", readme=True)

    # Choosing from the list: only the pretrained tokenizer is left.
    page.locator(".wb-explorer select[multiple]").first.select_option(["cl100k_base"])
    _settle(page, "pane.querySelectorAll('table.wb-token-table tr').length === 1")
    assert list(_token_counts(page)) == ["cl100k_base"]
    _assert_quiet(notebook, page)


# --------------------------------------------------------------------------------------------
# Learning-rate schedules


def _plot_src(page) -> str:
    return page.locator(".wb-output img.wb-plot").first.get_attribute("src")


def _group_peaks(page) -> dict[str, str]:
    """Group -> peak learning rate, as the explorer's table shows them."""
    table = _output(page).locator("table.wb-table")
    header = table.locator("thead th").all_inner_texts()
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]
    return {cells[header.index("group")]: cells[header.index("peak_lr")] for cells in rows}


def test_schedule_explorer_redraws_for_schedule_and_warmup(scratch_notebook, open_notebook, screenshot):
    path = scratch_notebook([
        "from workbench.widgets import schedule_explorer\n"
        "schedule_explorer(schedule='linear', steps=200, num_layers=2, llrd_decay=0.8)",
    ])
    notebook = open_notebook(path)
    page = notebook.page
    notebook.run_all()
    _output(page).locator("img.wb-plot").wait_for(timeout=TIMEOUT * 1000)
    first_html, first_plot = _output(page).inner_html(), _plot_src(page)
    assert first_plot.startswith("data:image/png;base64,")
    assert "linear" in _output(page).inner_text()

    # Choosing from the dropdown redraws the plot for the new schedule.
    page.locator(".wb-explorer .widget-dropdown").filter(has_text="schedule").locator("select").select_option("cosine")
    cosine_html = _settle(page, "pane.textContent.includes('cosine: peak')", before=first_html)
    assert _plot_src(page) != first_plot

    # Moving the warmup slider (keyboard on its handle) redraws the plot; each group's peak stays.
    peaks = _group_peaks(page)
    assert len(peaks) == 2 + 2 and peaks["head"] == "0.001" and "embeddings" in peaks  # 2 layers + head + emb.
    cosine_plot = _plot_src(page)
    _press_slider(page, "warmup fraction", "End")
    _settle(page, before=cosine_html)
    assert _readout(page, "warmup fraction") == "0.90"
    assert _plot_src(page) != cosine_plot
    assert _group_peaks(page) == peaks
    screenshot(page.locator(".wb-explorer").first, "schedule-explorer", readme=True)
    _assert_quiet(notebook, page)


# --------------------------------------------------------------------------------------------
# Augmentation


def test_augmentation_explorer_shows_escaped_variants(scratch_notebook, open_notebook, screenshot):
    path = scratch_notebook([
        "from workbench.widgets import augmentation_explorer\n"
        f"augmentation_explorer({json.dumps(PROBE + ' The tea tastes great and the honey makes it better.')},\n"
        "                      recipe='word_swap', alpha=0.3, n_aug=3)",
    ])
    notebook = open_notebook(path)
    page = notebook.page
    notebook.run_all()
    rows = page.locator(".wb-output table.wb-variants tbody tr")
    rows.first.wait_for(timeout=TIMEOUT * 1000)
    assert rows.count() == 3
    before = _output(page).inner_html()

    # More variants: the slider adds rows.
    _press_slider(page, "Variants", "ArrowRight", times=2)
    after_slider = _settle(page, "pane.querySelectorAll('table.wb-variants tbody tr').length === 5", before=before)

    # Another augmenter from the dropdown: character typos, still five rows; one change, one
    # render, with the busy marker up while nlpaug and MiniLM work.
    _record_activity(page)
    page.locator(".wb-explorer .widget-dropdown").filter(has_text="Augmenter").locator("select") \
        .select_option("char_keyboard")
    after_recipe = _settle(page, "pane.textContent.includes('KeyboardAug')", before=after_slider)
    assert rows.count() == 5
    assert _activity(page) == {"renders": 1, "busy": 1}

    # Strength zero changes nothing: every variant is the sentence, probe included, as plain text.
    _press_slider(page, "alpha", "Home")
    _settle(page, before=after_recipe)
    assert _readout(page, "alpha") == "0.00"
    variants = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert variants == [PROBE + " The tea tastes great and the honey makes it better."] * 5
    screenshot(page.locator(".wb-explorer").first, "augmentation-explorer", readme=True)
    _assert_quiet(notebook, page)


# --------------------------------------------------------------------------------------------
# Compression

# A hand-made compression table (the explorer only filters and ranks it; nothing is measured):
# within 1 accuracy point int8 is the fastest, within 5 points the pruned model is.
_COMPRESSION_CELL = """\
import pandas as pd
from workbench.compression import TABLE_COLUMNS
from workbench.widgets import compression_explorer
rows = [
    dict(variant="fp32_eager", status="ok", accuracy=0.850, delta_accuracy=0.0, delta_ci_low=0.0, latency_ms_p50_b1=10.0,
         latency_ms_p95_b1=12.0, speedup_b1=1.0, throughput_b32=300.0, size_mb=90.0, size_ratio=1.0),
    dict(variant="ort_int8", status="ok", accuracy=0.846, delta_accuracy=-0.004, delta_ci_low=-0.008, latency_ms_p50_b1=5.0,
         latency_ms_p95_b1=6.0, speedup_b1=2.0, throughput_b32=520.0, size_mb=23.0, size_ratio=0.26),
    dict(variant="pruned_50", status="ok", accuracy=0.820, delta_accuracy=-0.030, delta_ci_low=-0.045, latency_ms_p50_b1=4.0,
         latency_ms_p95_b1=4.5, speedup_b1=2.5, throughput_b32=610.0, size_mb=45.0, size_ratio=0.5),
]
compression_explorer(pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS), tolerance=0.01)"""


def _recommended(page) -> str:
    return page.locator(".wb-output p").filter(has_text="Recommended").locator("code").inner_text()


def test_compression_explorer_recommendation_follows_tolerance(scratch_notebook, open_notebook, screenshot):
    notebook = open_notebook(scratch_notebook([_COMPRESSION_CELL]))
    page = notebook.page
    notebook.run_all()
    _output(page).locator("img.wb-plot").wait_for(timeout=TIMEOUT * 1000)
    assert _recommended(page) == "ort_int8"
    before = _output(page).inner_html()

    # The tolerance slider to its maximum (0.2): the pruned model qualifies and is the fastest.
    _press_slider(page, "Tolerance", "End")
    after_tolerance = _settle(page, before=before)
    assert _recommended(page) == "pruned_50"

    # Ranking by size instead: int8 is the smallest.
    page.locator(".wb-explorer .widget-dropdown").filter(has_text="Fastest by").locator("select") \
        .select_option("size on disk")
    after_rank = _settle(page, before=after_tolerance)
    assert _recommended(page) == "ort_int8"

    # Leaving out int8 from the variant list: the pruned model is the smallest left.
    page.locator(".wb-explorer select[multiple]").first.select_option(["fp32_eager", "pruned_50"])
    _settle(page, before=after_rank)
    assert _recommended(page) == "pruned_50"
    assert _output(page).locator("table.wb-table tbody tr").count() == 2
    screenshot(page.locator(".wb-explorer").first, "compression-explorer", readme=True)
    _assert_quiet(notebook, page)


# --------------------------------------------------------------------------------------------
# Sweeps


def _objective(trial) -> float:
    return (trial.suggest_float("x", -2.0, 2.0) - 1.0) ** 2


def test_sweep_monitor_follows_an_external_worker(scratch_notebook, open_notebook, screenshot):
    path = scratch_notebook([
        "import optuna\n"
        "from workbench.widgets import sweep_monitor\n"
        "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
        "study = optuna.create_study(study_name='e2e', storage='sqlite:///sweeps.db',\n"
        "                            sampler=optuna.samplers.RandomSampler(seed=0))\n"
        "study.optimize(lambda t: (t.suggest_float('x', -2.0, 2.0) - 1.0) ** 2, n_trials=4)",
        "monitor = sweep_monitor('sqlite:///sweeps.db', 'e2e', interval=0.5)\n"
        "monitor",
    ])
    notebook = open_notebook(path)
    page = notebook.page
    notebook.run_all()
    progress = page.locator(".wb-output .wb-sweep-progress")
    progress.wait_for(timeout=TIMEOUT * 1000)
    assert "4 finished trials" in progress.inner_text()
    trials = page.locator(".wb-output table.wb-sweep-trials tr")
    assert trials.count() == 1 + 4  # header + every trial

    # Fewer rows shown: the slider. (The monitor re-renders twice a second: wait for the state.)
    _press_slider(page, "trials shown", "Home")
    _settle(page, "pane.querySelectorAll('table.wb-sweep-trials tr').length === 2")

    # Another process adds trials to the storage; auto-refresh picks them up.
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    worker = optuna.load_study(study_name="e2e", storage=f"sqlite:///{path.parent / 'sweeps.db'}")
    worker.optimize(_objective, n_trials=3)
    _settle(page, "pane.querySelector('.wb-sweep-progress').textContent.includes('7 finished')")

    # Auto-refresh off, more trials, then the "refresh now" button.
    page.locator(".wb-explorer .widget-checkbox input[type=checkbox]").first.uncheck()
    worker.optimize(_objective, n_trials=2)
    page.locator(".wb-explorer button").filter(has_text="refresh now").click()
    _settle(page, "pane.querySelector('.wb-sweep-progress').textContent.includes('9 finished')")
    assert trials.count() == 2  # the slider's choice holds across refreshes
    screenshot(page.locator(".wb-explorer").first, "sweep-monitor", readme=True)
    _assert_quiet(notebook, page)
