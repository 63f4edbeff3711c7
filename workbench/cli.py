"""The ``workbench`` command: ``report``, ``params``, ``compare``, ``lab``, ``sweep`` and ``info``.

Exit codes: 0 when everything worked, 1 when a notebook failed or lost configurations (degraded;
``--allow-degraded`` accepts those), 2 for a usage or parameter mistake (one line on stderr, no
traceback), 130 when interrupted (the index of what finished is still written).

>>> main(["report", "--profile", "smoke", "--only", "data", "--set", "seed=1"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``workbench`` command line and return its exit code.

    Examples
    --------
    >>> main(["info"])  # doctest: +SKIP
    python          3.11.7
    ...
    0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors; tests want a code
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.command(args)
    except WorkbenchError as exc:
        print(f"workbench {args.name}: error: {exc}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:
    from workbench.reports import PROFILES

    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Measure, on your data and hardware, whether an NLP technique pays off.")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    report = commands.add_parser("report", help="run the notebooks and write HTML reports")
    report.add_argument("--profile", choices=PROFILES, default=None,
                        help="smoke: seconds per notebook; default (the default): ~15 minutes; full: hours")
    report.add_argument("--only", metavar="NAME[,NAME]",
                        help="run only these notebooks (names without the number prefix)")
    report.add_argument("--set", dest="params", metavar="KEY=VALUE", action="append",
                        type=_key_value, default=[], help="set a notebook parameter (repeatable)")
    report.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    report.add_argument("--output", type=Path, help="run folder (default reports/<timestamp>)")
    report.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    report.add_argument("--notebooks", type=Path, help="notebooks folder (default notebooks/)")
    report.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="fail a notebook whose cell runs longer than this (default: no limit)")
    report.add_argument("--allow-degraded", action="store_true",
                        help="exit 0 when some configurations failed but every notebook produced results")
    report.add_argument("--parallel-timing", action="store_true",
                        help="with --jobs > 1, let notebooks that time things share the cores (the index says so)")
    report.add_argument("--force", action="store_true",
                        help="execute every notebook, even those whose inputs match an earlier ok run (cached)")
    report.add_argument("--rerun-failed", metavar="RUN",
                        help="re-run the notebooks that failed or were degraded in run folder RUN (its profile and "
                             "parameters; the others are copied from it when unchanged)")
    report.set_defaults(command=_report)

    compare = commands.add_parser("compare", help="two runs side by side: verdicts, headline figures, differences")
    compare.add_argument("run_a", metavar="RUN_A", help="run folder (path, or name under reports/)")
    compare.add_argument("run_b", metavar="RUN_B", help="run folder (path, or name under reports/)")
    compare.add_argument("--output", type=Path, help="page to write (default reports/compare/A-vs-B.html)")
    compare.set_defaults(command=_compare)

    params = commands.add_parser("params", help="a notebook's parameters: type, default and comment")
    params.add_argument("notebook", help="notebook name without its number prefix, e.g. data")
    params.add_argument("--notebooks", type=Path, help="notebooks folder (default notebooks/)")
    params.set_defaults(command=_params)

    lab = commands.add_parser("lab", help="JupyterLab on localhost with a fresh token")
    lab.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    lab.add_argument("--notebooks", type=Path, help="notebooks folder (default notebooks/)")
    lab.set_defaults(command=_lab)

    sweep = commands.add_parser(
        "sweep", help="run one worker of an Optuna study; start more on the same --storage",
        description="Run one worker that adds trials to an Optuna study until the study holds --n-trials "
                    "finished trials in total (from all workers sharing --storage). Workers on this machine "
                    "may share an SQLite file; workers on several machines need a database server: "
                    "PostgreSQL (e.g. `createdb sweeps` on one host, then on every host `workbench sweep "
                    "--storage postgresql://USER:PASSWORD@DBHOST:5432/sweeps --study s1 --n-trials 100 "
                    "--workers-on-other-hosts`) or MySQL. A study remembers its data, space, objective settings "
                    "and budget: a worker with other ones is refused (--new-study starts it over). Watch it "
                    "with `optuna-dashboard STORAGE`.")
    sweep.add_argument("--storage", default="sqlite:///sweeps.db",
                       help="SQLAlchemy URL: sqlite:///FILE (default sqlite:///sweeps.db; this machine only) or "
                            "postgresql://USER@HOST/DB (workers on many machines)")
    sweep.add_argument("--study", default="sweep", help="study name (created, or resumed if it exists)")
    sweep.add_argument("--n-trials", type=int, required=True, help="finished trials the study should hold in total")
    sweep.add_argument("--new-study", action="store_true",
                       help="delete a study of that name first and start over (another data set, space or budget)")
    sweep.add_argument("--extend", action="store_true", help="raise the --n-trials budget of an existing study")
    sweep.add_argument("--workers-on-other-hosts", action="store_true",
                       help="workers run on several machines: refuse an SQLite --storage (one host's file)")
    sweep.add_argument("--space", type=Path, help="YAML search space (default: the profile space of --model)")
    sweep.add_argument("--model", choices=("tiny", "mlp"), default="tiny",
                       help="tiny: tiny transformers (fine_tune); mlp: the fast scikit-learn proxy")
    sweep.add_argument("--sampler", choices=("grid", "random", "tpe", "cmaes", "nsga2"), default="tpe")
    sweep.add_argument("--pruner", choices=("none", "median", "asha", "hyperband"), default="median")
    sweep.add_argument("--objectives", default="accuracy",
                       help="comma list: accuracy or macro_f1, then costs latency_ms, n_params, flops")
    sweep.add_argument("--dataset", default="builtin:fine_foods", help="as in the notebooks' dataset parameter")
    sweep.add_argument("--text-column", help="text column of a file or hub data set")
    sweep.add_argument("--label-column", help="label column of a file or hub data set")
    sweep.add_argument("--profile", choices=PROFILES, default="default", help="sizes and the default space")
    sweep.add_argument("--epochs", type=int, default=0, help="epochs per trial (0: the profile value)")
    sweep.add_argument("--train-examples", type=int, default=0, help="training examples (0: the profile value)")
    sweep.add_argument("--seed", type=int, default=0, help="seeds data, initialisation and training")
    sweep.add_argument("--sampler-seed", type=int, help="seeds the sampler (default: fresh for each worker)")
    sweep.add_argument("--heartbeat", type=int, default=60,
                       help="seconds between heartbeats; a killed worker's trial is re-run after 2 of them (0: off)")
    sweep.set_defaults(command=_sweep)

    info = commands.add_parser("info", help="versions, CPU and threads behind a result")
    info.add_argument("--json", action="store_true", help="print JSON instead of lines")
    info.set_defaults(command=_info)
    return parser


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _report(args: argparse.Namespace) -> int:
    from workbench.reports import RunInterrupted, run_report

    try:
        result = run_report(notebooks_dir=args.notebooks, output=args.output, profile=args.profile,
                            only=args.only, params=dict(args.params), jobs=args.jobs,
                            show_code=args.show_code, timeout_per_cell=args.timeout,
                            parallel_timing=args.parallel_timing, force=args.force,
                            rerun_failed=args.rerun_failed)
    except RunInterrupted as stop:
        print(f"Interrupted. Report of what finished: {stop.result.index}", file=sys.stderr)
        return 130
    for run in result.notebooks:
        if run.error:
            print(f"{run.name} failed: {run.error}", file=sys.stderr)
        elif run.status == "degraded":
            print(f"{run.name} degraded: {'; '.join(run.detail)} (reasons on its page)", file=sys.stderr)
    print(f"Report: {result.index}")
    if result.ok or (args.allow_degraded and not result.failed):
        return 0
    return 1


def _compare(args: argparse.Namespace) -> int:
    from workbench.reports.compare import compare_runs

    print(f"Comparison: {compare_runs(args.run_a, args.run_b, output=args.output)}")
    return 0


def _params(args: argparse.Namespace) -> int:
    from workbench.reports import describe_parameters, list_notebooks

    notebooks = list_notebooks(args.notebooks)
    if args.notebook not in notebooks:
        from workbench.errors import ParameterError

        raise ParameterError(f"The notebook argument of `workbench params` must be one of {', '.join(notebooks)}. "
                             f"Got {args.notebook!r} instead.")
    print(f"# {notebooks[args.notebook].name}: set with --set NAME=VALUE (or papermill -p NAME VALUE)")
    print("\n".join(describe_parameters(notebooks[args.notebook])))
    return 0


def lab_command(*, port: int, notebooks_dir: str | Path | None = None) -> list[str]:
    """Return the argv that starts JupyterLab on 127.0.0.1 only (the token comes from :func:`lab_environment`).

    As root (containers), ``--allow-root`` is added: JupyterLab refuses to start otherwise, and the
    server stays local and token-protected.

    Examples
    --------
    >>> lab_command(port=8888)[-1]
    '--ServerApp.port=8888'
    """
    from workbench.reports import default_notebooks_dir

    folder = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1",  # never on the network: notebooks execute arbitrary code
        "--no-browser",
        "--notebook-dir", str(folder),
        *root,
        "--ServerApp.port_retries=0",  # the URL we print must be the one it listens on
        f"--ServerApp.port={port}",
    ]


def lab_environment(token: str | None = None) -> dict[str, str]:
    """The environment for JupyterLab: this one plus ``JUPYTER_TOKEN`` (fresh and random by default).

    The token travels in the environment, not in argv, so other users cannot read it with ``ps``.

    Examples
    --------
    >>> lab_environment("abc")["JUPYTER_TOKEN"]
    'abc'
    """
    return {**os.environ, "JUPYTER_TOKEN": token or secrets.token_hex(24)}


def _lab(args: argparse.Namespace) -> int:
    from workbench.reports.sidecars import REPORTS_VARIABLE, reports_root

    port, env = args.port or _free_port(), lab_environment()
    # Sidecars of notebooks run by hand go to reports/ where the command was typed (or the checkout's).
    env.setdefault(REPORTS_VARIABLE, str(reports_root().resolve()))
    argv = lab_command(port=port, notebooks_dir=args.notebooks or _editable_notebooks())
    print(f"JupyterLab: http://127.0.0.1:{port}/lab?token={env['JUPYTER_TOKEN']}", flush=True)
    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:  # Ctrl-C reaches JupyterLab too; it shuts down on its own
        return 0


def _editable_notebooks() -> Path | None:
    """A checkout edits its own notebooks; an installed package copies its notebooks to ./notebooks once,
    so that edits land in the user's folder, not in site-packages."""
    import shutil

    from workbench.reports.parameters import _REPO_ROOT, packaged_notebooks_dir

    if (_REPO_ROOT / "pyproject.toml").exists():
        return None
    here = Path.cwd() / "notebooks"
    if not here.exists():
        shutil.copytree(packaged_notebooks_dir(), here)
        print(f"Copied the notebooks into {here}", flush=True)
    return here


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sweep(args: argparse.Namespace) -> int:
    from workbench import sweeps
    from workbench.data import load_dataset, subsample
    from workbench.profiles import profile_settings

    if args.workers_on_other_hosts and args.storage.startswith("sqlite"):
        from workbench.errors import ParameterError

        raise ParameterError(f"The --storage of workbench sweep must be a database server when workers run on other "
                             f"hosts (an SQLite file is one machine's). Got {sweeps.safe_url(args.storage)!r} instead. "
                             "Use postgresql://USER@DBHOST/DB (see `workbench sweep --help`).")
    # Reach the storage first: an unreachable database should fail in a second, not after loading data.
    sweeps.open_storage(args.storage)
    settings = profile_settings("sweeps", args.profile)
    space = (sweeps.load_space(args.space, model=args.model) if args.space
             else sweeps.default_space(args.model, args.profile))
    data = load_dataset(args.dataset, text_column=args.text_column, label_column=args.label_column,
                        max_examples=settings["max_examples"] or None, seed=args.seed)
    data = subsample(data, split="train", n=args.train_examples or settings[f"{args.model}_examples"], seed=args.seed)
    epochs = args.epochs or settings[f"{args.model}_epochs"]
    if args.model == "mlp":
        objective = sweeps.MLPObjective(data, space, objectives=args.objectives, epochs=epochs, seed=args.seed)
    else:
        objective = sweeps.TransformerObjective(data, space, objectives=args.objectives, epochs=epochs,
                                                max_length=settings["max_length"], seed=args.seed,
                                                latency_repeats=settings["latency_repeats"])
    pruner = args.pruner if len(objective.objectives) == 1 else "none"
    result = sweeps.run_sweep(objective, n_trials=args.n_trials, study_name=args.study, storage=args.storage,
                              sampler=args.sampler, pruner=pruner, seed=args.sampler_seed,
                              heartbeat_interval=args.heartbeat or None, progress=sys.stderr.isatty(),
                              verbose=True, new_study=args.new_study, extend=args.extend)
    print(result.line())
    return 1 if result.stopped.startswith("stopped after") else 0


def _info(args: argparse.Namespace) -> int:
    from workbench.environment import environment_info

    info = environment_info()
    print(json.dumps(info, indent=2) if args.json else "\n".join(format_lines(info)))
    return 0


def format_lines(tree: dict[str, Any], *, indent: int = 0) -> list[str]:
    """Render a nested dict as aligned ``key  value`` lines, sub-dicts indented.

    Examples
    --------
    >>> format_lines({"python": "3.11.7", "cpu": {"flags": ["avx2", "fma"]}})
    ['python  3.11.7', 'cpu', '  flags  avx2, fma']
    """
    width = max((len(key) for key in tree), default=0)
    lines = []
    for key, value in tree.items():
        pad = " " * indent
        if isinstance(value, dict):
            lines.append(f"{pad}{key}")
            lines.extend(format_lines(value, indent=indent + 2))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"{pad}{key:<{width}}  {shown}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
