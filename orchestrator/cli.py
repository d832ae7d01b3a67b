"""The `orch` command line: parses options, calls the library, maps errors to exit codes.

Exit codes: 0 done, 1 runtime failure, 2 bad input (options, space files, scheduler refusals),
130 interrupted. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

try:  # typer >= 0.26 vendors its own click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as cx  # type: ignore[no-redef]

from orchestrator.cli_bench import bench_app
from orchestrator.cli_meta import meta_app
from orchestrator.cli_options import (
    AccountOpt,
    CommandOpt,
    ConstraintOpt,
    CpusOpt,
    CwdOpt,
    DataOpt,
    EpochsOpt,
    ExcludeOpt,
    ExtraOpt,
    FixOpt,
    GpusOpt,
    GresOpt,
    GridPointsOpt,
    JobNameOpt,
    JobOpt,
    JobOptionOpt,
    MemOpt,
    MetaRootOpt,
    MinimizeOpt,
    ModelOpt,
    ObjectiveOpt,
    PartitionOpt,
    ProfileOpt,
    QosOpt,
    RootOpt,
    SLURM_PANEL,
    SeedOpt,
    SetupOpt,
    SpaceOpt,
    StudyOpt,
    SubsampleOpt,
    TimeOpt,
    TrialsOpt,
    given_options,
    job_options,
    kv_options,
    slurm_options,
)

app = typer.Typer(
    name="orch", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Hyperparameter optimisation for SLURM clusters: SMAC3, meta-learned warm starts, submitit.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bench_app, name="bench")
app.add_typer(meta_app, name="meta")

@app.command()
def tune(
    ctx: typer.Context,
    root: RootOpt = Path("results"),
    study: StudyOpt = None,
    job: JobOpt = None,
    command: CommandOpt = None,
    task_name: Annotated[Optional[str], typer.Option(help="With --command: the task's name; studies of the same name learn from each other (default: one task per command and space).")] = None,
    cwd: CwdOpt = None,
    space: SpaceOpt = None,
    strategy: Annotated[str, typer.Option(help="auto (meta-smac when the meta-dataset holds related tasks, else smac), smac, meta-smac, random, grid, ...")] = "auto",
    trials: TrialsOpt = None,
    parallel: Annotated[Optional[int], typer.Option(help="Trials running at once (default 1; with --resume, changes the study's).")] = None,
    seed: SeedOpt = 0,
    resume: Annotated[Optional[str], typer.Option(help="Continue the named study.")] = None,
    retry_crashed: Annotated[bool, typer.Option("--retry-crashed", help="With --resume: run the study's crashed trials again.")] = False,
    objective: ObjectiveOpt = None,
    minimize: MinimizeOpt = None,
    epochs: EpochsOpt = None,
    max_retries: Annotated[int, typer.Option(help="Retries after TIMEOUT / PREEMPTED / NODE_FAIL.")] = 2,
    grid_points: GridPointsOpt = 3,
    executor: Annotated[str, typer.Option(help="local or slurm (implied by --partition).")] = "local",
    partition: PartitionOpt = None,
    gres: GresOpt = None,
    gpus_per_node: GpusOpt = None,
    cpus_per_task: CpusOpt = None,
    mem: MemOpt = None,
    time_limit: TimeOpt = None,
    account: AccountOpt = None,
    qos: QosOpt = None,
    constraint: ConstraintOpt = None,
    exclude: ExcludeOpt = None,
    sbatch_extra: ExtraOpt = None,
    setup: SetupOpt = None,
    job_name: JobNameOpt = None,
    profile: ProfileOpt = None,
    data: DataOpt = None,
    subsample: SubsampleOpt = None,
    model: ModelOpt = None,
    fix: FixOpt = None,
    job_option: JobOptionOpt = None,
    meta_root: MetaRootOpt = None,
    warm_configs: Annotated[Optional[int], typer.Option(help="Meta-learned configurations evaluated first (meta strategies; default 3 for meta-smac and meta-bnn, 5 for meta-smac-knn/-portfolio/-model).")] = None,
    min_budget: Annotated[Optional[float], typer.Option(help="Smallest budget in epochs (hyperband, bohb).")] = None,
    max_budget: Annotated[Optional[float], typer.Option(help="Largest budget in epochs (hyperband, bohb; default --epochs or the job's).")] = None,
    eta: Annotated[int, typer.Option(help="Successive halving rate (hyperband, bohb).")] = 3,
    detach_: Annotated[bool, typer.Option("--detach", help="Run the controller itself as a small SLURM job.", rich_help_panel=SLURM_PANEL)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per trial.")] = False,
) -> None:
    """Run a study: ask the strategy, run trials, record every result, print the best configuration."""
    from orchestrator.console import RichReporter, console
    from orchestrator.session import TuneRequest, detach, prepare

    slurm = slurm_options(partition, gres, gpus_per_node, cpus_per_task, mem, time_limit, account, qos, constraint,
                   exclude, sbatch_extra, setup, job_name)
    req = TuneRequest(
        root=root, study=study, job=job, command=command, cwd=cwd, space=space, strategy=strategy,
        trials=trials, parallel=parallel, seed=seed, resume=resume, objective=objective, minimize=minimize,
        epochs=epochs, max_retries=max_retries, grid_points=grid_points, executor=executor,
        slurm=slurm, profile=profile, job_options=job_options(job_option, data, subsample, model),  # type: ignore[arg-type]
        fixed=kv_options(fix, "--fix"), meta_roots=tuple(meta_root or ()), warm_configs=warm_configs,
        min_budget=min_budget, max_budget=max_budget, eta=eta, retry_crashed=retry_crashed, task_name=task_name,
        given=given_options(ctx),
    )
    if detach_:
        name, job_id = detach(req)
        console.print(f"orch: study {name} runs in SLURM job {job_id}; follow it with `orch status {name} --root {root}`")
        return
    loop, notes = prepare(req, RichReporter(quiet=quiet))
    outcome = loop.run(notes)
    if outcome.interrupted:
        raise typer.Exit(130)


@app.command()
def sbatch(
    study: Annotated[str, typer.Option(help="Study to add the trials to (created when it does not exist).")],
    source: Annotated[str, typer.Option("--from", help="initial (SMAC's initial design), grid, random or csv.")] = "initial",
    csv_file: Annotated[Optional[Path], typer.Option("--csv", help="CSV of configurations (columns = hyperparameters) for --from csv.")] = None,
    trials: Annotated[int, typer.Option(help="Number of configurations in the array.")] = 10,
    parallel: Annotated[int, typer.Option(help="Array tasks running at once (%N).")] = 4,
    root: RootOpt = Path("results"),
    job: JobOpt = None,
    command: CommandOpt = None,
    cwd: CwdOpt = None,
    space: SpaceOpt = None,
    seed: SeedOpt = 0,
    objective: ObjectiveOpt = None,
    minimize: MinimizeOpt = None,
    epochs: EpochsOpt = None,
    grid_points: GridPointsOpt = 3,
    partition: PartitionOpt = None,
    gres: GresOpt = None,
    gpus_per_node: GpusOpt = None,
    cpus_per_task: CpusOpt = None,
    mem: MemOpt = None,
    time_limit: TimeOpt = None,
    account: AccountOpt = None,
    qos: QosOpt = None,
    constraint: ConstraintOpt = None,
    exclude: ExcludeOpt = None,
    sbatch_extra: ExtraOpt = None,
    setup: SetupOpt = None,
    job_name: JobNameOpt = None,
    profile: ProfileOpt = None,
    data: DataOpt = None,
    subsample: SubsampleOpt = None,
    model: ModelOpt = None,
    fix: FixOpt = None,
    job_option: JobOptionOpt = None,
) -> None:
    """Write a standalone sbatch array script for a batch of configurations (run it with plain sbatch)."""
    from orchestrator.console import console
    from orchestrator.session import TuneRequest, write_sbatch

    slurm = slurm_options(partition, gres, gpus_per_node, cpus_per_task, mem, time_limit, account, qos, constraint,
                   exclude, sbatch_extra, setup, job_name)
    req = TuneRequest(root=root, study=study, job=job, command=command, cwd=cwd, space=space, trials=trials,
                      parallel=parallel, seed=seed, objective=objective, minimize=minimize, epochs=epochs,
                      grid_points=grid_points, executor="slurm", slurm=slurm, profile=profile,  # type: ignore[arg-type]
                      job_options=job_options(job_option, data, subsample, model), fixed=kv_options(fix, "--fix"))
    out = write_sbatch(req, source, csv_file)
    for script in out.scripts:
        console.print(f"orch: wrote {script} ({len(out.trials)} trials {out.trials[0].trial_id}..{out.trials[-1].trial_id})")
        console.print(f"  submit: sbatch {script}")
    console.print(f"  gather: orch ingest {study} --root {root}")


@app.command()
def ingest(
    study: Annotated[str, typer.Argument(help="Study whose result files to gather.")],
    root: RootOpt = Path("results"),
) -> None:
    """Gather the results of trials run outside a controller (sbatch arrays) into the study."""
    from orchestrator.console import console
    from orchestrator.store.study import StudyStore
    from orchestrator.templates import ingest as gather
    from orchestrator.views import ingest_line

    console.print(ingest_line(study, gather(StudyStore.open(root, study))))


@app.command()
def results(
    study: Annotated[str, typer.Argument(help="Study name.")],
    root: RootOpt = Path("results"),
    top: Annotated[int, typer.Option(help="Rows in the top-k table.")] = 10,
    as_csv: Annotated[bool, typer.Option("--csv", help="All trials as CSV on stdout (best first).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON on stdout.")] = False,
) -> None:
    """Best configuration, top-k trials, counts by status, compute, trials to 95% / 99% of the best."""
    from orchestrator.analysis import load_results, results_json
    from orchestrator.console import console
    from orchestrator.views import print_results, results_csv

    r = load_results(root, study)
    if as_json:
        print(results_json(r))
    elif as_csv:
        results_csv(r, sys.stdout)
    else:
        print_results(console, r, top)


@app.command()
def report(
    study: Annotated[str, typer.Argument(help="Study name.")],
    root: RootOpt = Path("results"),
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: <study folder>/report).")] = None,
) -> None:
    """PNG plots and one self-contained report.html for a study."""
    from orchestrator.analysis import load_results
    from orchestrator.console import console
    from orchestrator.report import write_report

    r = load_results(root, study)
    path = write_report(r, out or (r.paths.dir / "report"))
    console.print(f"orch: wrote {path} and its PNG files in {path.parent}")


@app.command()
def compare(
    studies: Annotated[list[str], typer.Argument(help="Two or more studies (best on the same task).")],
    root: RootOpt = Path("results"),
    out: Annotated[Optional[Path], typer.Option(help="Output folder for compare.png and compare.csv (default: <root>/compare/<studies>).")] = None,
) -> None:
    """Studies side by side: best-so-far curves vs trials and compute, and a table."""
    from orchestrator.analysis import comparison_notes, load_results
    from orchestrator.console import console
    from orchestrator.report import compare_dir, write_comparison
    from orchestrator.views import print_comparison

    loaded = [load_results(root, s) for s in studies]
    png, csv_path, table = write_comparison(loaded, out or compare_dir(root, studies))
    print_comparison(console, table, comparison_notes(loaded))
    console.print(f"orch: wrote {png} and {csv_path}")


@app.command()
def status(
    study: Annotated[Optional[str], typer.Argument(help="Study name; all studies when omitted.")] = None,
    root: RootOpt = Path("results"),
) -> None:
    """Show studies (or one study): trials finished / running / failed and the best so far."""
    from orchestrator.console import console
    from orchestrator.status import render_status

    render_status(console, root, study)


@app.command()
def jobs() -> None:
    """List the built-in jobs with their objective, datasets and search space."""
    from orchestrator.console import console
    from orchestrator.status import render_jobs

    render_jobs(console)


_ClickExit = getattr(cx, "Exit", typer.Exit)
_ClickAbort = getattr(cx, "Abort", typer.Abort)
_REPRODUCIBLE = ("tune", "bench")


def _pin_hash_seed() -> None:
    """SMAC's choices depend on set iteration order, so the same --seed only gives the same study
    with a fixed hash seed: restart the interpreter with one unless the user chose their own."""
    import os

    if "PYTHONHASHSEED" not in os.environ:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app and turns every error into one line and an exit code."""
    from orchestrator.console import error
    from orchestrator.errors import OrchError

    args = sys.argv[1:] if argv is None else argv
    if argv is None and args[:1] and args[0] in _REPRODUCIBLE:
        _pin_hash_seed()
    try:
        rv = app(args=args, prog_name="orch", standalone_mode=False)
        return int(rv or 0)
    except OrchError as e:
        error(str(e))
        return e.exit_code
    except cx.NoArgsIsHelpError:  # typer has printed the help already
        return 0
    except cx.UsageError as e:
        hint = f" (see: orch {e.ctx.info_name} --help)" if e.ctx is not None and e.ctx.info_name != "orch" else ""
        error(f"{e.format_message()}{hint}")
        return 2
    except (typer.Exit, _ClickExit) as e:
        return int(e.exit_code)
    except (typer.Abort, _ClickAbort):
        error("aborted")
        return 130
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except cx.ClickException as e:
        error(e.format_message())
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
