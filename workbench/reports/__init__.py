"""Notebooks in, a folder of self-contained HTML reports out.

papermill executes each notebook with its parameters, nbconvert turns the executed notebook into
HTML, and every notebook leaves two sidecars written by :func:`record`: ``summary.json``
(headline figures, parameters, environment, data set) and ``results.csv`` (the tidy rows behind
every table and plot). :func:`run_report` ties it together and writes ``index.html`` and
``run.json`` beside the per-notebook folders::

    reports/
        index.html                 every run folder found here (regenerated after each run)
        .cache/                    one key per notebook run that went ok (cached re-runs)
        20250101-120000/
            index.html  run.json
            data/  data.html  data.ipynb  summary.json  results.csv  log.txt  thumbnail.png
            sweeps/ ...

:func:`compare_runs` puts two runs side by side (``workbench compare RUN_A RUN_B``).

>>> result = run_report(profile="smoke", only="data")   # doctest: +SKIP
>>> result.ok, result.index   # doctest: +SKIP
(True, PosixPath('.../reports/20250101-120000/index.html'))
"""

from workbench.reports.compare import compare_info, compare_runs
from workbench.reports.html import convert_to_html
from workbench.reports.index import _format_value, _headline_figures
from workbench.reports.parameters import (
    PROFILES,
    RUNNER_PARAMETERS,
    coerce_parameter,
    declared_parameters,
    describe_parameters,
    default_notebooks_dir,
    list_notebooks,
    resolve_parameters,
)
from workbench.reports.kernels import HEADLESS_VARIABLE
from workbench.reports.runner import NotebookRun, RunInterrupted, RunResult, run_report
from workbench.reports.outcomes import Outcome, check_outcomes
from workbench.reports.runs import list_runs, read_run, write_runs_index
from workbench.reports.sidecars import RESERVED_SUMMARY_KEYS, interactive_dir, output_folder, record, reports_root

__all__ = ["HEADLESS_VARIABLE", "PROFILES", "RESERVED_SUMMARY_KEYS", "RUNNER_PARAMETERS", "NotebookRun", "Outcome", "RunInterrupted", "RunResult",
           "check_outcomes", "compare_info", "compare_runs", "list_runs", "read_run", "write_runs_index", "interactive_dir", "output_folder", "reports_root",
           "coerce_parameter", "declared_parameters", "describe_parameters", "convert_to_html", "default_notebooks_dir", "list_notebooks", "record",
           "resolve_parameters", "run_report"]
