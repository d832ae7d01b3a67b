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

app = typer.Typer(
    name="orch", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Hyperparameter optimisation for SLURM clusters: SMAC3, meta-learned warm starts, submitit.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

RootOpt = Annotated[Path, typer.Option("--root", help="Results root (studies/ and metadataset/ live here).")]
StudyOpt = Annotated[Optional[str], typer.Option(help="Study name (default: <job>-<strategy>-<time>).")]
JobOpt = Annotated[Optional[str], typer.Option(help="Built-in job to tune (see `orch jobs`).")]
CommandOpt = Annotated[Optional[str], typer.Option(help="Your own command, e.g. \"python train.py --lr {lr}\".")]
CwdOpt = Annotated[Optional[str], typer.Option(help="Working directory for --command (default: here).")]
SpaceOpt = Annotated[Optional[str], typer.Option(help="Search space: YAML, ConfigSpace JSON, or a job's preset name.")]
TrialsOpt = Annotated[Optional[int], typer.Option(help="Number of trials to finish (default 20).")]
ParallelOpt = Annotated[int, typer.Option(help="Trials running at once.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the strategy and the jobs.")]
ObjectiveOpt = Annotated[Optional[str], typer.Option(help="Metric to optimise (default: the job's own).")]
MinimizeOpt = Annotated[Optional[bool], typer.Option("--minimize/--maximize", help="Direction of the objective.")]
EpochsOpt = Annotated[Optional[int], typer.Option(help="Epochs per trial (where the strategy sets no budget).")]
GridPointsOpt = Annotated[int, typer.Option(help="Grid points per numeric hyperparameter (strategy grid).")]
DataOpt = Annotated[Optional[str], typer.Option(help="Dataset: a path, a name under $ORCH_DATASETS, or a Hugging Face name.")]
SubsampleOpt = Annotated[Optional[int], typer.Option(help="Use at most N training rows (quick runs).")]
ModelOpt = Annotated[Optional[str], typer.Option(help="Transformer: a Hugging Face name or path, minilm, or tiny-bert.")]
FixOpt = Annotated[Optional[list[str]], typer.Option(help="Hold a hyperparameter constant: NAME=VALUE (repeatable).")]
MetaRootOpt = Annotated[Optional[list[str]], typer.Option("--meta-root", help="Another results root to learn from (repeatable; also $ORCH_META_ROOTS).")]
JobOptionOpt = Annotated[Optional[list[str]], typer.Option("--job-option", "-o", help="Job option NAME=VALUE (repeatable), e.g. -o max_length=64, -o target=price.")]
_S = "SLURM"
PartitionOpt = Annotated[Optional[str], typer.Option(help="SLURM partition: run trials as SLURM jobs.", rich_help_panel=_S)]
GresOpt = Annotated[Optional[str], typer.Option(help="Generic resources per trial, e.g. gpu:1.", rich_help_panel=_S)]
GpusOpt = Annotated[Optional[int], typer.Option(help="GPUs per trial (--gpus-per-node).", rich_help_panel=_S)]
CpusOpt = Annotated[Optional[int], typer.Option(help="CPUs per trial.", rich_help_panel=_S)]
MemOpt = Annotated[Optional[str], typer.Option(help="Memory per trial, e.g. 16G.", rich_help_panel=_S)]
TimeOpt = Annotated[Optional[str], typer.Option("--time", help="Time limit per trial (minutes, HH:MM:SS or D-HH:MM:SS), local or SLURM: a trial past it ends TIMEOUT and is retried.")]
AccountOpt = Annotated[Optional[str], typer.Option(help="SLURM account.", rich_help_panel=_S)]
QosOpt = Annotated[Optional[str], typer.Option(help="Quality of service.", rich_help_panel=_S)]
ConstraintOpt = Annotated[Optional[str], typer.Option(help="Node features (--constraint).", rich_help_panel=_S)]
ExcludeOpt = Annotated[Optional[str], typer.Option(help="Nodes to avoid.", rich_help_panel=_S)]
ExtraOpt = Annotated[Optional[list[str]], typer.Option(help="Extra sbatch option, e.g. --sbatch-extra=--reservation=x (repeatable).", rich_help_panel=_S)]
SetupOpt = Annotated[Optional[list[str]], typer.Option(help="Shell line run before each trial, e.g. 'module load cuda' (repeatable).", rich_help_panel=_S)]
JobNameOpt = Annotated[Optional[str], typer.Option(help="SLURM job name (default orch-<study>).", rich_help_panel=_S)]
ProfileOpt = Annotated[Optional[str], typer.Option(help="Cluster profile (TOML) with defaults for the options above.", rich_help_panel=_S)]


def _kv(values: list[str] | None, flag: str) -> dict[str, object]:
    from orchestrator.errors import ConfigError

    out: dict[str, object] = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"{flag}: expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _literal(v.strip())
    return out


def _literal(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _job_options(items: list[str] | None, data: str | None, subsample: int | None, model: str | None) -> dict[str, object]:
    from orchestrator.errors import ConfigError

    options = _kv(items, "--job-option")
    if data is not None:
        options["data"] = data
    if subsample is not None:
        if subsample < 1:
            raise ConfigError(f"--subsample: must be at least 1, got {subsample}")
        options["subsample"] = subsample
    if model is not None:
        options["model"] = model
    return options


def _slurm(partition: str | None, gres: str | None, gpus_per_node: int | None, cpus_per_task: int | None,
           mem: str | None, time_limit: str | None, account: str | None, qos: str | None, constraint: str | None,
           exclude: str | None, sbatch_extra: list[str] | None, setup: list[str] | None,
           job_name: str | None) -> object:
    from orchestrator.executors.profile import SlurmOptions

    return SlurmOptions(
        partition=partition, gres=gres, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task, mem=mem,
        time=time_limit, account=account, qos=qos, constraint=constraint, exclude=exclude, job_name=job_name,
        sbatch_extra=tuple(sbatch_extra or ()), setup=tuple(setup or ()),
    )


@app.command()
def tune(
    root: RootOpt = Path("results"),
    study: StudyOpt = None,
    job: JobOpt = None,
    command: CommandOpt = None,
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
    detach_: Annotated[bool, typer.Option("--detach", help="Run the controller itself as a small SLURM job.", rich_help_panel=_S)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per trial.")] = False,
) -> None:
    """Run a study: ask the strategy, run trials, record every result, print the best configuration."""
    from orchestrator.console import RichReporter, console
    from orchestrator.session import TuneRequest, detach, prepare

    slurm = _slurm(partition, gres, gpus_per_node, cpus_per_task, mem, time_limit, account, qos, constraint,
                   exclude, sbatch_extra, setup, job_name)
    req = TuneRequest(
        root=root, study=study, job=job, command=command, cwd=cwd, space=space, strategy=strategy,
        trials=trials, parallel=parallel, seed=seed, resume=resume, objective=objective, minimize=minimize,
        epochs=epochs, max_retries=max_retries, grid_points=grid_points, executor=executor,
        slurm=slurm, profile=profile, job_options=_job_options(job_option, data, subsample, model),  # type: ignore[arg-type]
        fixed=_kv(fix, "--fix"), meta_roots=tuple(meta_root or ()), warm_configs=warm_configs,
        min_budget=min_budget, max_budget=max_budget, eta=eta, retry_crashed=retry_crashed,
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

    slurm = _slurm(partition, gres, gpus_per_node, cpus_per_task, mem, time_limit, account, qos, constraint,
                   exclude, sbatch_extra, setup, job_name)
    req = TuneRequest(root=root, study=study, job=job, command=command, cwd=cwd, space=space, trials=trials,
                      parallel=parallel, seed=seed, objective=objective, minimize=minimize, epochs=epochs,
                      grid_points=grid_points, executor="slurm", slurm=slurm, profile=profile,  # type: ignore[arg-type]
                      job_options=_job_options(job_option, data, subsample, model), fixed=_kv(fix, "--fix"))
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

    report = gather(StudyStore.open(root, study))
    console.print(f"orch: {study}: ingested {len(report.ingested)} results, {report.already} were already "
                  f"recorded, {len(report.missing)} trials have no result yet"
                  + (f" ({', '.join(report.missing[:10])}{'...' if len(report.missing) > 10 else ''})" if report.missing else ""))


bench_app = typer.Typer(help="Benchmarks: strategy comparisons and orchestration overhead.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("run")
def bench_run(
    suite: Annotated[str, typer.Option(help="hpobench-nn, or a table CSV from `orch bench build-table`.")] = "hpobench-nn",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = "random,grid,smac",
    seeds: Annotated[int, typer.Option(help="Seeds per task.")] = 10,
    trials: Annotated[int, typer.Option(help="Trials per run.")] = 100,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("bench-out/run"),
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    tasks: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the suite's tasks.")] = None,
    first_seed: Annotated[int, typer.Option(help="First seed (seeds are first_seed .. first_seed+seeds-1).")] = 0,
) -> None:
    """Compare strategies on a suite (leave-one-task-out): table, runs.csv, summary.csv, plots."""
    from rich.markdown import Markdown
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from orchestrator.bench.compare import compare
    from orchestrator.console import console

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    task_list = [t.strip() for t in tasks.split(",")] if tasks else None
    with Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        job = bar.add_task("", total=None)

        def tick(r: object) -> None:
            spec = getattr(r, "spec")
            bar.update(job, advance=1, description=f"{spec.strategy} {spec.task} seed {spec.seed}")

        from orchestrator.bench.suites import load_suite

        n_tasks = len(task_list) if task_list else len(load_suite(suite).tasks)
        bar.update(job, total=len(names) * n_tasks * seeds)
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
) -> None:
    """Build a real-job lookup table for `orch bench run --suite TABLE.csv`."""
    from orchestrator.bench.table import build_table
    from orchestrator.console import RichReporter, console
    from orchestrator.executors.profile import SlurmOptions

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    path = build_table(job, names, out, root, pool=pool, grid_points=grid_points, seed=seed, parallel=parallel,
                       executor=executor, slurm=SlurmOptions(partition=partition),
                       job_options=_job_options(job_option, None, subsample, model), epochs=epochs,
                       reporter_for=lambda name: RichReporter(quiet=True), space_file=space,
                       retry_crashed=retry_crashed)
    console.print(f"orch: wrote {path} and {path.with_suffix('.json')}")


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
    import json as _json
    from dataclasses import asdict

    from rich.table import Table

    from orchestrator.bench.faults import SCENARIOS, load, run_faults
    from orchestrator.console import console
    from orchestrator.errors import ConfigError
    from orchestrator.executors.slurm import slurm_available

    if not slurm_available():
        raise ConfigError("orch bench faults: no SLURM cluster here (start one with slurm/cluster-up.sh)")
    names = [n.strip() for n in only.split(",")] if only else [*SCENARIOS, "load"]
    unknown = [n for n in names if n not in SCENARIOS and n != "load"]
    if unknown:
        raise ConfigError(f"--only: unknown scenario(s) {', '.join(unknown)}")
    table = Table("fault", "injected", "lost", "duplicated", "recovery s", "trials", "statuses", "notes",
                  title="fault injection on the dev cluster")

    def row(r: object) -> None:
        d = asdict(r)  # type: ignore[call-overload]
        table.add_row(d["fault"], str(d["injected"]), str(d["lost"]), str(d["duplicated"]), f"{d['recovery_s']:.1f}",
                      str(d["trials"]), ", ".join(f"{k} {v}" for k, v in d["statuses"].items()), d["notes"][:60])
        console.print(f"orch: {d['fault']}: injected {d['injected']}, lost {d['lost']}, duplicated {d['duplicated']}")

    scen = [n for n in names if n != "load"]
    results = run_faults(out, scen, seed, progress=row) if scen else []
    if results:
        console.print(table)
    if "load" in names:
        lr = load(out / "load", trials=load_trials, parallel=load_parallel, max_array=max_array)
        (out / "load.json").write_text(_json.dumps(asdict(lr), indent=2))
        lt = Table("figure", "value", title=f"load: {lr.trials} trivial trials through SLURM arrays")
        for k, v in asdict(lr).items():
            lt.add_row(k, f"{v:.2f}" if isinstance(v, float) else str(v))
        console.print(lt)
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

    from rich.table import Table

    from orchestrator.bench.metaload import run_meta_load
    from orchestrator.console import console

    r = run_meta_load(out, rows, studies, tasks, selector)
    table = Table("figure", "value", title=f"meta-dataset of {r.rows:,} trials in {r.studies} files, {r.tasks} tasks")
    for k, v in asdict(r).items():
        table.add_row(k, f"{v:.2f}" if isinstance(v, float) else str(v))
    console.print(table)
    (out / "meta_load.json").write_text(__import__("json").dumps(asdict(r), indent=2))


@bench_app.command("surrogates")
def bench_surrogates(
    out: Annotated[Path, typer.Option(help="Output folder (calibration.csv, ask_times.csv).")] = Path("bench-out/surrogates"),
    tasks: Annotated[Optional[str], typer.Option(help="hpobench-nn tasks (default: all 8).")] = None,
    reps: Annotated[int, typer.Option(help="Repetitions per training-set size.")] = 3,
    ask_tasks: Annotated[str, typer.Option(help="Tasks of the ask-time runs.")] = "car,kc1",
) -> None:
    """Calibration (90% interval coverage, NLL) of rf, bnn and meta-bnn, and their ask time at 200 observations."""
    from rich.table import Table

    from orchestrator.bench.plots import calibration_plot
    from orchestrator.bench.surrogates import ask_times, calibration, summarise
    from orchestrator.console import console

    out.mkdir(parents=True, exist_ok=True)
    cal = calibration([t.strip() for t in tasks.split(",")] if tasks else None, reps=reps)
    cal.to_csv(out / "calibration.csv", index=False)
    calibration_plot(cal, out / "calibration.png")
    asks = ask_times(tasks=tuple(t.strip() for t in ask_tasks.split(",")))
    asks.to_csv(out / "ask_times.csv", index=False)
    cs, as_ = summarise(cal, asks)
    for df, title in ((cs, "calibration on held-out configurations (hpobench-nn)"),
                      (as_, "seconds per ask with 193-208 observations")):
        t = Table(*df.columns, title=title)
        for _, row in df.iterrows():
            t.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()))
        console.print(t)
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
    from rich.table import Table

    from orchestrator.bench.overhead import run_overhead
    from orchestrator.console import console

    rows = run_overhead(out, trials, parallel, partition, smac_trials)
    table = Table("run", "trials", "wall s", "trials/s", "ctl CPU s/trial", "sched CPU s/trial", "sacct/min",
                  "sbatch", "median end->next submit s", title=f"orchestration overhead ({partition}, %{parallel})")
    for r in rows:
        table.add_row(r.run, str(r.trials), f"{r.wall_s:.1f}", f"{r.trials_per_s:.2f}",
                      f"{r.controller_cpu_s_per_trial:.3f}", f"{r.scheduler_cpu_s_per_trial:.3f}",
                      f"{r.sacct_per_min:.1f}", str(r.sbatch_calls),
                      "-" if r.median_gap_s is None else f"{r.median_gap_s:.2f}")
    console.print(table)
    raw = rows[0].trials_per_s
    console.print(f"orch random / raw submitit throughput: {rows[1].trials_per_s / raw:.0%}; "
                  f"written {out / 'overhead.csv'}")


meta_app = typer.Typer(help="The meta-dataset of past studies: list, show, export, suggest.", no_args_is_help=True)
app.add_typer(meta_app, name="meta")


def _load_meta(root: Path, meta_root: list[str] | None) -> object:
    from orchestrator.console import err_console
    from orchestrator.metalearning.metadata import MetaData
    from orchestrator.metalearning.views import meta_roots

    md = MetaData.load(meta_roots(root, meta_root))
    for problem in md.problems:
        err_console.print(f"orch: warning: {problem}", markup=False)
    return md


@meta_app.command("list")
def meta_list(root: RootOpt = Path("results"), meta_root: MetaRootOpt = None) -> None:
    """Tasks in the meta-dataset: trials, objective, best value, meta-features."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import list_table

    md = _load_meta(root, meta_root)
    console.print(list_table(md))  # type: ignore[arg-type]


@meta_app.command("show")
def meta_show(
    task: Annotated[str, typer.Argument(help="Task name as `orch meta list` prints it (job:dataset).")],
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
    top: Annotated[int, typer.Option(help="How many best configurations.")] = 10,
) -> None:
    """One task: its meta-features and best configurations."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import show_table

    feats, best = show_table(_load_meta(root, meta_root), task, top)  # type: ignore[arg-type]
    console.print(feats)
    console.print(best)


@meta_app.command("export")
def meta_export(
    out: Annotated[Path, typer.Option(help="One .csv or .parquet file with every trial of every study.")],
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
) -> None:
    """Write the whole meta-dataset to one CSV or parquet file."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import export

    md = _load_meta(root, meta_root)
    path = export(md, out)  # type: ignore[arg-type]
    console.print(f"orch: wrote {len(md)} trials of {len(md.task_names())} tasks to {path}")  # type: ignore[attr-defined]


@meta_app.command("suggest")
def meta_suggest(
    job: JobOpt = None,
    data: DataOpt = None,
    space: SpaceOpt = None,
    subsample: SubsampleOpt = None,
    model: ModelOpt = None,
    selector: Annotated[str, typer.Option(help="meta-smac (what meta-smac and meta-bnn start with), portfolio, knn or model.")] = "meta-smac",
    n: Annotated[Optional[int], typer.Option("--n", help="How many configurations (default: what a study starts with: 3 for meta-smac, 5 for the others).")] = None,
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
    seed: Annotated[int, typer.Option(help="The study's seed (`orch tune --seed`): meta-smac samples candidates.")] = 0,
) -> None:
    """The configurations a new study would start with, and why (which past tasks, their distance)."""
    from rich.table import Table

    from orchestrator.console import console, fmt_value
    from orchestrator.suggest import suggest

    result = suggest(job, data, space, selector, n, root, list(meta_root or ()),
                     _job_options(None, data, subsample, model), seed=seed)
    console.print(f"task {result.task.name}: {', '.join(f'{k}={fmt_value(v)}' for k, v in result.task.features.items())}")
    nb = Table("past task", "distance", "shared hyperparameters", title="nearest past tasks")
    for t, d in result.plan.tasks[:10]:
        nb.add_row(t, "?" if d == float("inf") else f"{d:.2f}", str(len(result.plan.shared.get(t, ()))))
    console.print(nb)
    names = list(result.space.keys())
    table = Table("#", *names, "why", title=f"warm start ({result.plan.selector})")
    for i, (c, why) in enumerate(zip(result.plan.configs, result.plan.reasons), start=1):
        table.add_row(str(i), *(fmt_value(c.get(h, "-")) for h in names), why)
    console.print(table)
    if not result.plan.configs:
        console.print("orch: no related past tasks: a new study would start from SMAC's own initial design")


@app.command()
def results(
    study: Annotated[str, typer.Argument(help="Study name.")],
    root: RootOpt = Path("results"),
    top: Annotated[int, typer.Option(help="Rows in the top-k table.")] = 10,
    as_csv: Annotated[bool, typer.Option("--csv", help="All trials as CSV on stdout (best first).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON on stdout.")] = False,
) -> None:
    """Best configuration, top-k trials, counts by status, compute, trials to 95% / 99% of the best."""
    import sys as _sys

    from rich.table import Table

    from orchestrator.analysis import failure_lines, load_results, results_json
    from orchestrator.console import console, fmt_value

    r = load_results(root, study)
    if as_json:
        print(results_json(r))
        return
    if as_csv:
        order = r.trials.sort_values("objective", ascending=r.minimize, na_position="last", kind="stable")
        order.drop(columns=["incumbent", "counts"]).to_csv(_sys.stdout, index=False)
        return
    s = r.summary()
    console.print(f"[bold]{s['study']}[/]: {s['task']}, {s['strategy']}, {s['direction']} {s['objective']}; "
                  f"{s['trials']} of {s['target_trials']} trials: "
                  + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    c = s["compute"]
    console.print(f"compute: {c['wall_hours']:.3f} wall-hours ({c['mean_wall_seconds_per_trial']:.1f} s per trial), "
                  f"{c['gpu_hours']:.3f} GPU-hours ({c['mean_gpu_hours_per_trial']:.4f} per trial)")
    console.print(f"trials to reach 95% / 99% of the best: {s['trials_to_95pct_of_best']} / {s['trials_to_99pct_of_best']}")
    for line in failure_lines(r):
        console.print(line, markup=False)
    if s["best"] is not None:
        console.print(f"best: trial {s['best']['trial_id']}, {r.objective} = {fmt_value(s['best']['objective'])}")
        for k, v in s["best"]["config"].items():
            console.print(f"  {k} = {fmt_value(v)}")
    table = Table("trial", r.objective, *r.hyperparameters, "wall s", title=f"top {top}")
    for _, row in r.top(top).iterrows():
        table.add_row(str(row["trial_id"]), fmt_value(float(row["objective"])),
                      *(fmt_value(row[f"hp:{h}"]) if row[f"hp:{h}"] == row[f"hp:{h}"] else "-" for h in r.hyperparameters),
                      f"{float(row.get('wall_seconds', 0)):.1f}")
    console.print(table)


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
    from rich.table import Table

    from orchestrator.analysis import comparison_notes, load_results
    from orchestrator.console import console, fmt_value
    from orchestrator.report import compare_dir, write_comparison

    loaded = [load_results(root, s) for s in studies]
    png, csv_path, table = write_comparison(loaded, out or compare_dir(root, studies))
    t = Table(*table.columns)
    for _, row in table.iterrows():
        t.add_row(*(fmt_value(v) if v == v and v is not None else "-" for v in row.tolist()))
    console.print(t)
    for note in comparison_notes(loaded):
        console.print(f"orch: note: {note}", markup=False)
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
