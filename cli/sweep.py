"""``isingvar sweep``: the options of a sweep, its progress, its tables and ``--dry-run``.  Every number
comes from :mod:`isingvar.sweep` and :mod:`isingvar.report`."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import typer

from .console import _add_row, _duration, _encodable, _info_grid, err, out
from .errors import _fail, _user_errors
from .options import (
    BOUNDARY_OPTION,
    COUPLINGS_OPTION,
    DEGREE_OPTION,
    DISORDER_OPTION,
    FORMAT_OPTION,
    INTERVAL_OPTION,
    J0_OPTION,
    L_OPTION,
    MODEL_ARGUMENT,
    N_OPTION,
    _force_help,
    _load_config,
    _method_help,
    _method_settings,
    _model_params,
    _with_method_settings,
)
from .tables import _bounds_tables, _column_labels, _print_failures, _print_tables


class _Progress:
    """A rich progress bar on a terminal, plain lines every few seconds otherwise."""

    def __init__(self, enabled: bool, interval: float = 5.0):
        self.enabled = enabled
        self.interval = interval
        self.bar = None
        self.last = 0.0

    def __enter__(self):
        if self.enabled and err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("sweep", total=None)
        self.start = time.monotonic()
        return self

    def __call__(self, done: int, total: int, label: str):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, description=label)
            return
        now = time.monotonic()
        if now - self.last >= self.interval or done >= total:
            self.last = now
            elapsed = now - self.start
            eta = f"  ETA {elapsed * (total - done) / done:6.0f} s" if 0 < done < total else ""
            typer.echo(f"[{elapsed:7.1f} s] {100 * done / total:5.1f}%{eta}  {label}", err=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _resume_command(out_path: Path) -> str:
    """This command line with --resume and --out, without --overwrite."""
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(out_path)]
    return "isingvar " + shlex.join(args)


@_with_method_settings
def sweep(
    ctx: typer.Context,
    model: str | None = MODEL_ARGUMENT,
    n: int | None = N_OPTION,
    L: int | None = L_OPTION,
    J0: float | None = J0_OPTION,
    boundary: str | None = BOUNDARY_OPTION,
    disorder: str | None = DISORDER_OPTION,
    degree: int | None = DEGREE_OPTION,
    couplings: Path | None = COUPLINGS_OPTION,
    file_format: str | None = FORMAT_OPTION,
    beta: str = typer.Option("0.05:3:60", "--beta", help="Inverse temperatures: start:stop:n, log:start:stop:n, a,b,c or a number (>= 0).", rich_help_panel="Grid"),
    J: str = typer.Option("1", "--J", help="Coupling scale(s): every J_ij is multiplied by J.", rich_help_panel="Grid"),
    h: str = typer.Option("0", "--h", help="Uniform field(s) added to every h_i.", rich_help_panel="Grid"),
    samples: int | None = typer.Option(None, "--samples", help="Disorder samples (default 4 for disordered families, else 1).", rich_help_panel="Grid"),
    seed: int = typer.Option(0, "--seed", help="Seed; sample k is drawn from rng([seed, k]).", rich_help_panel="Grid"),
    method: list[str] | None = typer.Option(None, "--method", help=_method_help(), rich_help_panel="Methods"),
    force: bool = typer.Option(False, "--force", help=_force_help(), rich_help_panel="Methods"),
    bound_budget: float | None = typer.Option(None, "--bound-budget", help="Seconds per instance (its beta grid) that each certified-bound method with construction choices (trw, smf: width and clamp; mf: clamp) may spend (smf half of it; mf none where smf runs): it takes the whole graph as one exact component where that fits (trw: the bound is then ln Z), else the tightest construction of its ladder whose estimated cost fits (docs/methods.md, Budgets); --dry-run shows the choice; a method's own width, clamp or budget setting (e.g. --trw-width) wins; 0: none (width 1, clamp 0). Default: 40 (trw's; smf takes half, mf none where smf runs: 60 s per instance in all; the embedded SK N = 16 sweep takes the exact rung of trw and smf: its interval closes on ln Z).", rich_help_panel="Methods"),
    sites: bool | None = typer.Option(None, "--sites/--no-sites", help="Store the methods' per-site variables, e.g. exact <s_i> and mean-field m_i (default: when N <= 1024).", rich_help_panel="Output"),
    out_path: Path | None = typer.Option(None, "--out", help="Result file (default `runs/<model>-n<N>-<UTC time>.h5`).", rich_help_panel="Output"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file.", rich_help_panel="Output"),
    resume: bool = typer.Option(False, "--resume", help="Continue --out: compute only the instances not done (starts it if missing); refused if it was made by other options.", rich_help_panel="Output"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="With --resume, also compute again the instances whose points were flagged as not computed/withheld.", rich_help_panel="Output"),
    interval: str = INTERVAL_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of tables.", rich_help_panel="Output"),
    shard: str | None = typer.Option(None, "--shard", help="Run shard i/n (0 <= i < n) of the instances, or 'slurm' for the job-array task; join the files with `isingvar merge`.", rich_help_panel="Batch"),
    workers: int | None = typer.Option(None, "--workers", help="Processes computing instances in parallel (default: the number of cores, no more than the instances; 1 where the methods' estimated work for the sweep is under 1.5 s, where starting them costs more than they save).", rich_help_panel="Batch"),
    config_file: Path | None = typer.Option(None, "--config", is_eager=True, callback=_load_config, help="TOML file of sweep options (keys as the option names, e.g. beta = \"0.1:3:60\"); command-line options override it.", rich_help_panel="Batch"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved grid, instance count and a time estimate; compute and write nothing.", rich_help_panel="Batch"),
    **settings,
):
    """Sweep beta x J x h x samples: exact ln Z and bounds on it, into one HDF5 file.

    Each method's settings are options named after it, e.g. --mf-max-sweeps (a table [mf] in --config).

    The file is committed after finished instances, so a killed run keeps its
    work: rerun the same command with --resume.  SIGINT and SIGTERM commit and
    exit with status 75.\f

    Parameters
    ----------
    ctx : typer.Context
        The click context.
    model : str or None
        The model family; None: :data:`isingvar.sweep.config.DEFAULT_MODEL`.
    n, L, J0, boundary, disorder, degree, couplings, file_format : object or None
        The family's parameters (``--n``, ``--L``, ``--J0``, ``--boundary``, ``--disorder``, ``--degree``,
        ``--couplings``, ``--format``); None: the family's default.
    beta, J, h : str
        ``--beta``, ``--J``, ``--h``: the grid axes, in the range syntax of
        :func:`isingvar.sweep.ranges.parse_range`.
    samples : int or None
        ``--samples``: disorder samples; None: 4 for disordered families, else 1.
    seed : int
        ``--seed``: sample k is drawn from rng([seed, k]).
    method : list of str or None
        ``--method``: the methods to run; None: the default ones.
    force : bool
        ``--force``: run even where a method's time estimate is over its limit.
    bound_budget : float or None
        ``--bound-budget``: seconds per instance for the bound methods' constructions; None (not given):
        :data:`isingvar.budget.DEFAULT_BUDGET`; 0: none.
    sites : bool or None
        ``--sites/--no-sites``: store the per-site variables; None: when N <= 1024.
    out_path : pathlib.Path or None
        ``--out``: the result file; None: :func:`isingvar.sweep.config.default_output_path`.
    overwrite : bool
        ``--overwrite``: replace an existing result file.
    resume : bool
        ``--resume``: compute only the instances of ``out_path`` not done.
    retry_failed : bool
        ``--retry-failed``: with ``resume``, also those with flagged points.
    interval : str
        ``--interval``: "certified" or "probabilistic", the interval on f of the width column.
    as_json : bool
        ``--json``: print a JSON summary on stdout instead of tables.
    shard : str or None
        ``--shard``: "i/n" or "slurm", the shard of the instances to run.
    workers : int or None
        ``--workers``: processes computing instances; None: chosen from the cores and the estimated work.
    config_file : pathlib.Path or None
        ``--config``: a TOML file of options (read by its eager callback into the defaults).
    dry_run : bool
        ``--dry-run``: print the resolved grid, instance count and time estimate only.
    **settings
        The method settings, one ``setting__<method>__<field>`` keyword per ``--<method>-<setting>``
        option (:func:`cli.options._with_method_settings`); None where not given.
    """
    from isingvar.interrupt import terminate_as_interrupt

    # SIGTERM stops every phase like Ctrl-C (before the first commit: no file, exit 130)
    with _user_errors(), terminate_as_interrupt():
        from isingvar.budget import DEFAULT_BUDGET
        from isingvar.errors import ModelParameterError, OutputWriteError, SweepInterrupted
        from isingvar.io.outputs import check_output
        from isingvar.io.store import read_summary
        from isingvar.parallel import WorkerPool, available_cores
        from isingvar.report import (
            bounds_table,
            computed_any,
            failures,
            free_energy_names,
            is_probabilistic,
            model_lnZ_values,
        )
        from isingvar.sweep import (
            choose_workers,
            default_output_path,
            make_config,
            method_plans,
            parse_shard,
            run_sweep,
        )

        if resume and overwrite:
            raise ModelParameterError("--resume and --overwrite exclude each other; choose one")
        if resume and out_path is None:
            raise ModelParameterError("--resume needs --out FILE: the file to continue")
        if retry_failed and not resume:
            raise ModelParameterError("--retry-failed needs --resume: it computes again flagged instances of an existing --out file")
        probabilistic = is_probabilistic(interval)
        if workers is not None and workers < 1:
            raise ModelParameterError(f"--workers must be at least 1, got {workers}")
        shard_spec = parse_shard(shard)
        params = _model_params(n, L, J0, boundary, disorder, degree, couplings, file_format)
        if method:  # --method mf,trw as --method mf --method trw
            method = [name.strip() for item in method for name in item.split(",") if name.strip()]
        config = make_config(
            model, params, beta=beta, J=J, h=h, samples=samples, seed=seed,
            methods=method, sites=sites, force=force or dry_run,  # a dry run estimates, never refuses
            settings=_method_settings(settings),
            bound_budget=DEFAULT_BUDGET if bound_budget is None else bound_budget,
        )
        path = out_path or default_output_path(config)
        if dry_run:
            _dry_run(config, shard_spec, path, resume, as_json, force)
            return
        if not resume:
            check_output(path, overwrite, inputs=[couplings] if couplings else [])
        command_line = "isingvar " + shlex.join(sys.argv[1:]) if sys.argv else "isingvar sweep"
        if not as_json:
            err.print(_encodable(f"sweep {config.model} N={config.n}: grid sample×J×h×beta = {'×'.join(map(str, config.shape))}, "
                                 f"methods {', '.join(config.methods)}", err), highlight=False)
            for name, plan in method_plans(config).items():  # e.g. the exact path sample 0 takes
                err.print(_encodable(f"  {name}: {plan}", err), highlight=False)
        n_workers, note = choose_workers(workers, config, available_cores())
        if note:
            typer.echo(f"warning: {note}", err=True)
        pool = WorkerPool(n_workers)
        try:
            with pool, _Progress(enabled=not as_json) as progress:
                summary = run_sweep(
                    config, path, overwrite=overwrite, resume=resume, retry_failed=retry_failed, shard=shard_spec,
                    pool=pool if pool.workers > 1 else None, command_line=command_line, progress=progress,
                )
        except (SweepInterrupted, OutputWriteError) as e:
            _fail(f"{e}; resume with: {_resume_command(path)}", e.exit_code)
        result = read_summary(path)
        # an empty shard computes nothing and fails nothing
        nothing = summary.done > 0 and not computed_any(result)
        if as_json:
            info = summary.to_dict()
            info["failures"] = {m: [{"reason": r, "beta": b, "instances": n} for r, b, n in items]
                                for m, items in failures(result).items()}
            info["computed_any"] = computed_any(result)
            typer.echo(json.dumps(info))
            _print_failures(result)
        else:
            rows = bounds_table(result, probabilistic=probabilistic)
            title = f"mean over {rows[0]['n_done']} sample(s) at J={config.J[0]:g}, h={config.h[0]:g}"
            _print_tables(_bounds_tables(rows, title, free_energy_names(result), _column_labels(result, probabilistic)))
            for name, value in model_lnZ_values(result).items():
                out.print(f"{name} = {value:.12g}  (the file's own model, at beta = 1)", highlight=False)
            _print_failures(result)
            what = f"shard {shard_spec[0]}/{shard_spec[1]}: " if shard_spec else ""
            out.print(f"wrote {path} in {summary.elapsed:.2f} s ({what}{summary.computed} instance(s) computed, "
                      f"{summary.done} of {summary.total} done)", highlight=False)
        if nothing:
            _fail(f"no method computed a value at any point of the sweep (see the lines above); {path} is written", 1)


def _dry_run(config, shard_spec, path: Path, resume: bool, as_json: bool, force: bool):
    """What a sweep would do, from the resolved configuration; writes nothing."""
    from isingvar.io.store import open_copy, read_attrs, read_done
    from isingvar.sweep import check_resumable, estimate_time, shard_instances

    mine = shard_instances(config, shard_spec)
    pending = mine
    if resume and path.exists():
        with open_copy(path) as f:
            check_resumable(read_attrs(f), config, shard_spec, path)
            done = read_done(f)
        pending = [i for i in mine if not done[i]]
    todo = len(pending)
    # the estimate and refusal rule of the sweep itself, summed over these very instances
    estimate = estimate_time(config, pending)
    secs = estimate.seconds
    refused = estimate.over_limit and not force
    info = {
        "model": config.model, "params": config.params, "n_spins": config.n,
        "beta": config.beta.tolist(),  # the grid itself: reusable as --beta (comma-joined) or in --config
        "J": config.J.tolist(), "h": config.h.tolist(), "samples": config.samples, "seed": config.seed,
        "methods": list(config.methods), "instances": len(config.instances()), "in_shard": len(mine),
        "to_compute": todo, "estimated_s": round(secs, 1),
        "estimated_s_by_method": {k: round(v, 1) for k, v in estimate.per_method.items()},
        "plan_by_method": estimate.notes,
        "decisions_by_method": estimate.decisions,  # e.g. {"exact": {"planar": 2, "elimination": 1}}
        "settings": config.to_dict()["settings"], "needs_force": refused, "out": str(path),
        "config_hash": config.config_hash(),
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    table = _info_grid()
    _add_row(table, "model", f"{config.model} {json.dumps(config.params)}  (N = {config.n})")
    _add_row(table, "beta", f"{config.beta.size} value(s), {config.beta.min():g} … {config.beta.max():g}")
    _add_row(table, "J", ", ".join(f"{x:g}" for x in config.J))
    _add_row(table, "h", ", ".join(f"{x:g}" for x in config.h))
    _add_row(table, "samples", f"{config.samples} (seed {config.seed})")
    _add_row(table, "methods", ", ".join(config.methods))
    for name, values in config.to_dict()["settings"].items():
        if values:
            _add_row(table, f"  {name}", ", ".join(f"{k} = {v!r}" for k, v in values.items()))
    shard_note = f" (shard {shard_spec[0]}/{shard_spec[1]}: {len(mine)})" if shard_spec else ""
    _add_row(table, "instances", f"{len(config.instances())}{shard_note}, {todo} to compute")
    limit = f"; {estimate.refusal()}" if refused else ""
    by_method = ", ".join(f"{k} {_duration(v)}" for k, v in estimate.per_method.items())
    _add_row(table, "estimate", f"about {_duration(secs)} ({by_method}; the sum of each instance's own "
                                f"estimate){limit}")
    for name, note in estimate.notes.items():
        _add_row(table, f"  {name}", note)
    exists = " (exists: needs --resume or --overwrite)" if path.exists() and not resume else ""
    _add_row(table, "output", f"{path}{exists} (not written: dry run)")
    out.print(table)
