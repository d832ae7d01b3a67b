"""`orch bench ...`: strategy comparisons on suites, real-job tables, fault injection and overheads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli_options import (
    EpochsOpt,
    JobOptionOpt,
    ModelOpt,
    ParallelOpt,
    PartitionOpt,
    RootOpt,
    SeedOpt,
    SubsampleOpt,
    job_options,
)

bench_app = typer.Typer(help="Benchmarks: strategy comparisons and orchestration overhead.", no_args_is_help=True)


@bench_app.command("run")
def bench_run(
    suite: Annotated[str, typer.Option(help="hpobench-nn, lcbench, lcbench-curves, fnn-regression, fnn-regression-wide128, a table CSV from `orch bench build-table` (a curves table: regret against training cost, cost.csv), several of them comma-separated (pooled: all of those in one meta-dataset), or panel (all of them and pooled).")] = "hpobench-nn",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = "random,grid,smac",
    seeds: Annotated[int, typer.Option(help="Seeds per task.")] = 10,
    trials: Annotated[int, typer.Option(help="Trials per run; on a curves table, strategies that halt or shorten trials run until they have spent the cost of this many full-budget trials.")] = 100,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("bench-out/run"),
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    tasks: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the suite's tasks.")] = None,
    first_seed: Annotated[int, typer.Option(help="First seed (seeds are first_seed .. first_seed+seeds-1).")] = 0,
) -> None:
    """Compare strategies on a suite (leave-one-task-out): table, runs.csv, summary.csv, plots."""
    from rich.markdown import Markdown

    from orchestrator.bench.compare import compare, plan_runs
    from orchestrator.console import console
    from orchestrator.views import bench_progress

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    task_list = [t.strip() for t in tasks.split(",")] if tasks else None
    total = len(plan_runs(suite, names, seeds, trials, task_list, first_seed)[2])
    with bench_progress(console, total) as tick:
        result = compare(suite, names, seeds, trials, out, workers=workers, tasks=task_list, progress=tick,
                         first_seed=first_seed)
    console.print(Markdown(result.markdown))
    console.print(f"orch: {result.seconds:.0f} s; wrote " + ", ".join(str(f) for f in result.files))


@bench_app.command("build-table")
def bench_build_table(
    job: Annotated[str, typer.Option(help="Built-in job (see `orch jobs`).")],
    datasets: Annotated[str, typer.Option(help="Comma-separated datasets (names or paths), one task each.")],
    out: Annotated[Path, typer.Option(help="Table CSV to write (a provenance JSON goes beside it).")] = Path("bench-out/table.csv"),
    pool: Annotated[int, typer.Option(help="Scrambled Sobol configurations in the pool.")] = 300,
    grid_points: Annotated[int, typer.Option(help="Plus the preset grid with this many points per numeric hyperparameter (0: none).")] = 3,
    seed: SeedOpt = 0,
    parallel: ParallelOpt = 2,
    executor: Annotated[str, typer.Option(help="local or slurm.")] = "local",
    partition: PartitionOpt = None,
    root: RootOpt = Path("results"),
    epochs: EpochsOpt = None,
    subsample: SubsampleOpt = None,
    model: ModelOpt = None,
    job_option: JobOptionOpt = None,
    space: Annotated[Optional[str], typer.Option(help="Space file (YAML/JSON) of the job's hyperparameters instead of its preset.")] = None,
    retry_crashed: Annotated[bool, typer.Option("--retry-crashed", help="Run the table's crashed trials again (e.g. after fixing a dataset path).")] = False,
    curves: Annotated[bool, typer.Option("--curves", help="Also write TABLE-curves.csv: every trial's learning curve as its job reported it, epoch by epoch, with its cumulative seconds (for `orch bench run --suite TABLE-curves.csv`).")] = False,
) -> None:
    """Build a real-job lookup table for `orch bench run --suite TABLE.csv`."""
    from orchestrator.bench.table import build_table, curves_path
    from orchestrator.console import RichReporter, console
    from orchestrator.executors.profile import SlurmOptions

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    path = build_table(job, names, out, root, pool=pool, grid_points=grid_points, seed=seed, parallel=parallel,
                       executor=executor, slurm=SlurmOptions(partition=partition),
                       job_options=job_options(job_option, None, subsample, model), epochs=epochs,
                       reporter_for=lambda name: RichReporter(quiet=True), space_file=space,
                       retry_crashed=retry_crashed, curves=curves)
    console.print(f"orch: wrote {path} and {path.with_suffix('.json')}"
                  + (f" and {curves_path(path)}" if curves else ""))


@bench_app.command("faults")
def bench_faults(
    out: Annotated[Path, typer.Option(help="Output folder (faults.csv, load.json, the studies).")] = Path("bench-out/faults"),
    only: Annotated[Optional[str], typer.Option(help="Comma-separated scenarios: controller-kill, scancel, requeue, node-failure, bad-results, concurrency, load.")] = None,
    seed: SeedOpt = 0,
    load_trials: Annotated[int, typer.Option(help="Trials of the load run.")] = 1000,
    max_array: Annotated[int, typer.Option(help="MaxArraySize for the load run (the cluster's if smaller).")] = 100,
    load_parallel: Annotated[int, typer.Option(help="Array throttle (%N) of the load run.")] = 6,
) -> None:
    """Fault injection against the running dev cluster: every fault at least 3 times, 0 lost, 0 duplicated."""
    from dataclasses import asdict

    from orchestrator.bench.faults import load, run_faults, scenarios
    from orchestrator.console import console
    from orchestrator.views import add_fault, faults_table, figures_table

    names = scenarios(only)
    table = faults_table()
    scen = [n for n in names if n != "load"]
    results = run_faults(out, scen, seed, progress=lambda r: add_fault(console, table, r)) if scen else []
    if results:
        console.print(table)
    if "load" in names:
        lr = load(out / "load", trials=load_trials, parallel=load_parallel, max_array=max_array)
        console.print(figures_table(f"load: {lr.trials} trivial trials through SLURM arrays", asdict(lr)))
    console.print(f"orch: wrote {out / 'faults.csv'}" + (f" and {out / 'load.json'}" if "load" in names else ""))
    bad = [r for r in results if r.lost or r.duplicated]
    if bad:
        raise typer.Exit(1)


@bench_app.command("meta-load")
def bench_meta_load(
    out: Annotated[Path, typer.Option(help="Scratch results root for the generated meta-dataset.")] = Path("bench-out/meta-load"),
    rows: Annotated[int, typer.Option(help="Trials in the meta-dataset.")] = 1_000_000,
    studies: Annotated[int, typer.Option(help="Meta-dataset files (one per study).")] = 1000,
    tasks: Annotated[int, typer.Option(help="Distinct tasks.")] = 100,
    selector: Annotated[str, typer.Option(help="meta-smac, portfolio, knn or model.")] = "meta-smac",
) -> None:
    """Load time of a large meta-dataset and the time to a new study's warm start."""
    from dataclasses import asdict

    from orchestrator.bench.metaload import run_meta_load
    from orchestrator.console import console
    from orchestrator.views import figures_table

    r = run_meta_load(out, rows, studies, tasks, selector)  # also writes meta_load.json under out
    console.print(figures_table(f"meta-dataset of {r.rows:,} trials in {r.studies} files, {r.tasks} tasks", asdict(r)))


@bench_app.command("surrogates")
def bench_surrogates(
    out: Annotated[Path, typer.Option(help="Output folder (calibration.csv, ask_times.csv).")] = Path("bench-out/surrogates"),
    tasks: Annotated[Optional[str], typer.Option(help="hpobench-nn tasks (default: all 8).")] = None,
    reps: Annotated[int, typer.Option(help="Repetitions per training-set size.")] = 3,
    ask_tasks: Annotated[str, typer.Option(help="Tasks of the ask-time runs.")] = "car,kc1",
) -> None:
    """Calibration (90% interval coverage, NLL) of rf, bnn and meta-bnn, and their ask time at 200 observations."""
    from orchestrator.bench.surrogates import measure
    from orchestrator.console import console
    from orchestrator.views import frame_table

    cs, as_ = measure(out, [t.strip() for t in tasks.split(",")] if tasks else None, reps,
                      tuple(t.strip() for t in ask_tasks.split(",")))
    console.print(frame_table(cs, "calibration on held-out configurations (hpobench-nn)"))
    console.print(frame_table(as_, "seconds per ask with 193-208 observations"))
    console.print(f"orch: wrote {out / 'calibration.csv'}, {out / 'calibration.png'} and {out / 'ask_times.csv'}")


@bench_app.command("overhead")
def bench_overhead(
    out: Annotated[Path, typer.Option(help="Output folder (overhead.csv, the studies, submitit's files).")] = Path("bench-out/overhead"),
    trials: Annotated[int, typer.Option(help="Trivial trials per run.")] = 200,
    parallel: Annotated[int, typer.Option(help="Array throttle / slots.")] = 8,
    partition: Annotated[str, typer.Option(help="SLURM partition.")] = "cpu",
    smac_trials: Annotated[int, typer.Option(help="Trials of the SMAC run (end-to-next-submit gap).")] = 60,
) -> None:
    """Orchestration cost through real SLURM: orch vs raw submitit map_array on trivial trials."""
    from orchestrator.bench.overhead import run_overhead
    from orchestrator.console import console
    from orchestrator.views import overhead_table

    rows = run_overhead(out, trials, parallel, partition, smac_trials)
    console.print(overhead_table(rows, partition, parallel))
    raw = rows[0].trials_per_s
    console.print(f"orch random / raw submitit throughput: {rows[1].trials_per_s / raw:.0%}; "
                  f"written {out / 'overhead.csv'}")


@bench_app.command("ask-time")
def bench_ask_time(
    out: Annotated[Path, typer.Option(help="Scratch results root for the synthetic meta-dataset (ask_times.csv).")] = Path("bench-out/ask-time"),
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = "smac,bo,meta-smac,meta-bo",
    tasks: Annotated[int, typer.Option(help="Past tasks in the meta-dataset.")] = 100,
) -> None:
    """Seconds per ask with 193-208 observations and `tasks` past tasks in the meta-dataset."""
    from dataclasses import asdict

    import pandas as pd

    from orchestrator.bench.asktime import ask_times
    from orchestrator.console import console
    from orchestrator.views import frame_table

    rows = ask_times(out, [s.strip() for s in strategies.split(",") if s.strip()], tasks=tasks)
    console.print(frame_table(pd.DataFrame([asdict(r) for r in rows]),
                              f"seconds per ask at 193-208 observations, {tasks} past tasks"))
    console.print(f"orch: wrote {out / 'ask_times.csv'}")
