"""From what the user asked for (a TuneRequest) to a ready StudyLoop: new study or resume.

Validates everything before the study folder is written, so a bad option leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.executors.base import Executor
from orchestrator.executors.profile import SlurmOptions, find_profile, load_profile
from orchestrator.spec import JobSpec, StudySpec
from orchestrator.store.paths import check_study_name
from orchestrator.store.study import StudyStore
from orchestrator.task import Task, clean_features
from orchestrator.tune import Reporter, StudyLoop


@dataclass(frozen=True)
class TuneRequest:
    root: Path = Path("results")
    study: str | None = None
    job: str | None = None
    command: str | None = None
    cwd: str | None = None
    space: str | None = None
    strategy: str = "smac"
    trials: int | None = None
    parallel: int | None = None  # None: 1 for a new study, the study's own on resume
    seed: int = 0
    resume: str | None = None
    objective: str | None = None
    minimize: bool | None = None
    budget: float | None = None
    epochs: int | None = None
    max_retries: int = 2
    grid_points: int = 3
    executor: str = "local"
    job_options: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    dataset_label: str | None = None
    meta_roots: tuple[str, ...] = ()
    max_failures: int | None = None
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    profile: str | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)
    warm_configs: int | None = None  # None: the strategy's own default
    min_budget: float | None = None
    max_budget: float | None = None
    eta: int = 3
    retry_crashed: bool = False  # resume only: crashed trials run again


DEFAULT_TRIALS = 20


def prepare(req: TuneRequest, reporter: Reporter | None = None) -> tuple[StudyLoop, list[str]]:
    """Build (or reopen) the study and everything that runs it. Returns the loop and start-up notes."""
    if req.resume:
        return _resume(req, reporter)
    if req.retry_crashed:
        raise ConfigError("--retry-crashed: only with --resume (a new study has no crashed trials)")
    return _create(req, reporter)


def _create(req: TuneRequest, reporter: Reporter | None) -> tuple[StudyLoop, list[str]]:
    from orchestrator.space import fix_hyperparameters, load_space, space_to_json
    from orchestrator.strategies import check_strategy

    from jobs.registry import DEFAULT_JOB, get_job, presets

    notes: list[str] = []
    check_strategy(req.strategy)
    _check_positive(req)
    if req.job and req.command:
        raise ConfigError("--job and --command: give one of them, not both")
    if req.command:
        if not req.space:
            raise ConfigError("--command needs --space (a YAML or ConfigSpace JSON file)")
        if not req.objective:
            raise ConfigError("--command needs --objective (the metric name your command writes)")
        space = load_space(req.space, presets=presets())
        _check_command(req.command, list(space.keys()))
        job = JobSpec(kind="command", command=req.command, cwd=str(Path(req.cwd or ".").resolve()),
                      options=_job_options(req))
        task = Task(job="command", dataset=req.dataset_label or "custom", objective=req.objective,
                    minimize=bool(req.minimize))
    else:
        name = req.job or DEFAULT_JOB
        if not req.job:
            notes.append(f"no --job or --command given: running the built-in default job '{name}'")
        info = get_job(name)
        space = load_space(req.space or name, presets=presets())
        objective = req.objective or info.objective
        minimize = info.minimize if req.minimize is None else req.minimize
        if req.objective and req.objective not in info.metrics and not req.objective.startswith("test_"):
            raise ConfigError(f"--objective: job '{name}' reports {', '.join(info.metrics)}, not '{req.objective}'")
        options = _job_options(req)
        if options.get("data") and Path(str(options["data"])).expanduser().exists():
            options["data"] = str(Path(str(options["data"])).expanduser().resolve())  # valid from any node / cwd
        job = JobSpec(kind="builtin", name=name, options=options)
        check = getattr(info.load(), "check", None)
        if check is not None:
            check(options)  # e.g. the transformer can be loaded, before anything is written
        features = clean_features(_task_features(info, options))
        dataset = req.dataset_label or _dataset_label(options.get("data"), info.datasets[0])
        task = Task(job=name, dataset=dataset, objective=objective, minimize=minimize, features=features)
    if req.fixed:
        space = fix_hyperparameters(space, req.fixed)
    study = check_study_name(req.study or f"{task.job}-{req.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")
    fidelity = _fidelity(req, job)
    executor_kind = _executor_kind(req)
    executor_options: dict[str, Any] = {}
    if executor_kind == "slurm":
        profile = load_profile(find_profile(req.profile))
        options = profile.merged(req.slurm)
        if options.job_name is None:
            options = replace(options, job_name=f"orch-{study}")
        executor_options = options.to_dict()
    spec = StudySpec(
        name=study, task=task, job=job, strategy=req.strategy, seed=req.seed,
        n_trials=req.trials or DEFAULT_TRIALS, parallel=req.parallel or 1, max_retries=req.max_retries,
        budget=req.budget if req.budget is not None else (float(req.epochs) if req.epochs else None),
        executor={"kind": executor_kind, **executor_options},
        strategy_options={"grid_points": req.grid_points, **fidelity, **req.strategy_options},
        meta_roots=tuple(req.meta_roots), min_budget=fidelity.get("min_budget"), max_budget=fidelity.get("max_budget"),
    )
    spec, meta_notes, meta = _resolve_meta(spec, space, req)
    notes += meta_notes
    executor = make_executor(spec, req.root)
    validate = getattr(executor, "validate", None)
    if validate is not None:
        validate()  # the scheduler checks the options (sbatch --test-only) before anything is written
    optimizer = study_optimizer(spec, space, req.root, meta)
    store = StudyStore.create(req.root, spec, space_to_json(space))
    loop = StudyLoop(store, executor, optimizer, reporter, max_failures=req.max_failures)
    return loop, notes


def _resume(req: TuneRequest, reporter: Reporter | None) -> tuple[StudyLoop, list[str]]:
    store = StudyStore.open(req.root, req.resume or "")
    notes = [f"resuming study '{store.spec.name}'"]
    spec = store.spec
    if req.trials and req.trials != spec.n_trials:
        notes.append(f"target changed from {spec.n_trials} to {req.trials} trials")
        spec = spec.with_trials(req.trials)
    if req.parallel and req.parallel != spec.parallel:
        notes.append(f"trials at once changed from {spec.parallel} to {req.parallel}")
        spec = replace(spec, parallel=req.parallel)
    if spec != store.spec:
        store.update_spec(spec)
    executor = make_executor(spec, req.root)
    optimizer = study_optimizer(spec, store.load_space(), req.root)
    return StudyLoop(store, executor, optimizer, reporter, max_failures=req.max_failures,
                     retry_crashed=req.retry_crashed), notes


def _resolve_meta(spec: StudySpec, space: Any, req: TuneRequest) -> tuple[StudySpec, list[str], Any]:
    """Meta-learning strategies (and `auto`): compute the warm start now and record it in the study,
    so that a resume starts from the same configurations. `auto` is meta-smac when the meta-dataset
    holds related tasks, else plain smac. Also returns the meta-dataset (None for other strategies)."""
    from orchestrator.metalearning.views import meta_roots
    from orchestrator.metalearning.warmstart import load_meta, plan, related
    from orchestrator.strategies import AUTO, META_INCUMBENTS, SELECTOR_OF, STRATEGIES

    if spec.strategy != AUTO and not STRATEGIES[spec.strategy].uses_meta:
        return spec, [], None
    roots = [r.resolve() for r in meta_roots(req.root, list(req.meta_roots))]  # valid from any cwd on resume
    meta = load_meta(roots, exclude_study=spec.name)
    notes = [f"meta-dataset: skipped {p}" for p in meta.problems]
    strategy = spec.strategy
    learner = "meta-smac" if strategy == AUTO else strategy  # what `auto` runs when there is something to learn
    selector = SELECTOR_OF[learner]
    n_warm = req.warm_configs if req.warm_configs is not None else STRATEGIES[learner].warm_configs
    warm = plan(meta, space, spec.task, selector, n=int(n_warm), seed=spec.seed)
    if strategy == AUTO:
        strategy = "meta-smac" if warm.configs else "smac"
    # the past studies it learns from, recorded so that a resume learns from the same ones
    used = {"meta_studies": sorted(map(str, related(meta, space).df["study"].unique()))}
    if not warm.configs:
        notes.append(f"{strategy}: no related past tasks in the meta-dataset ({', '.join(map(str, roots))}); "
                     "SMAC starts from its own initial design")
        return (replace(spec, strategy=strategy, strategy_options={**spec.strategy_options, **used},
                        meta_roots=tuple(map(str, roots))), notes, meta)
    learned = ", ".join(f"{t} ({'?' if d == float('inf') else f'{d:.2f}'})" for t, d in warm.tasks[:6])
    more = f" and {len(warm.tasks) - 6} more" if len(warm.tasks) > 6 else ""
    then = f"; then the past tasks' own best configurations (up to {META_INCUMBENTS})" if strategy == "meta-smac" else ""
    notes.append(f"{strategy}: warm start with {len(warm.configs)} configurations ({warm.selector}) learned from "
                 f"{len(warm.tasks)} past tasks: {learned}{more}{then}")
    options = {**spec.strategy_options, **warm.to_options(), **used}
    return replace(spec, strategy=strategy, strategy_options=options, meta_roots=tuple(map(str, roots))), notes, meta


def study_optimizer(spec: StudySpec, space: Any, root: Path, meta: Any = None) -> Any:
    """The study's optimiser, built the way the benchmark harness builds it. A meta-learning strategy
    learns from the meta-dataset of its recorded roots (loaded here on resume: only the past studies it
    started with), never its own trials."""
    from orchestrator.strategies import STRATEGIES, StrategyContext, build_optimizer, check_strategy

    if meta is None and STRATEGIES[check_strategy(spec.strategy)].uses_meta and spec.meta_roots:
        from orchestrator.metalearning.metadata import MetaData
        from orchestrator.metalearning.warmstart import load_meta

        meta = load_meta([Path(r) for r in spec.meta_roots], exclude_study=spec.name)
        if "meta_studies" in spec.strategy_options:  # the past studies it learnt from when it started
            meta = MetaData(meta.df[meta.df["study"].isin(set(spec.strategy_options["meta_studies"]))])
    ctx = StrategyContext(space=space, seed=spec.seed, n_trials=spec.n_trials, budget=spec.budget,
                          options=dict(spec.strategy_options), task=spec.task, meta=meta)
    return build_optimizer(spec.strategy, ctx)


def make_executor(spec: StudySpec, root: Path) -> Executor:
    kind = str(spec.executor.get("kind", "local"))
    if kind == "local":
        from orchestrator.executors.local import LocalExecutor

        return LocalExecutor(parallel=spec.parallel)
    if kind == "slurm":
        from orchestrator.executors.slurm import SlurmExecutor
        from orchestrator.store.paths import StudyPaths

        options = SlurmOptions.from_dict(spec.executor, source="study.json executor")
        return SlurmExecutor(options, StudyPaths(root, spec.name).slurm, spec.parallel)
    raise ConfigError(f"--executor: unknown executor '{kind}' (local, slurm)")


def _executor_kind(req: TuneRequest) -> str:
    if req.executor not in ("local", "slurm"):
        raise ConfigError(f"--executor: unknown executor '{req.executor}' (local, slurm)")
    if req.executor == "slurm" or req.slurm.partition or req.profile:
        return "slurm"
    if req.slurm != SlurmOptions():
        raise ConfigError("SLURM options (--gres, --mem, ...) need --partition or --executor slurm")
    return "local"


def _fidelity(req: TuneRequest, job: JobSpec) -> dict[str, Any]:
    """Budgets (epochs) of the multi-fidelity strategies: --max-budget, else --epochs, else the job's default."""
    from orchestrator.strategies import MULTI_FIDELITY

    if req.strategy not in MULTI_FIDELITY:
        if req.min_budget is not None or req.max_budget is not None:
            raise ConfigError(f"--min-budget/--max-budget: only for {' and '.join(MULTI_FIDELITY)} (got --strategy {req.strategy})")
        return {}
    default_max = 27.0
    if job.kind == "builtin":
        from jobs.registry import get_job

        default_max = float(get_job(job.name).default_epochs)
    hi = float(req.max_budget or req.epochs or default_max)
    lo = float(req.min_budget or max(1.0, round(hi / req.eta**2)))
    if not 0 < lo < hi:
        raise ConfigError(f"--min-budget/--max-budget: need 0 < min ({lo:g}) < max ({hi:g})")
    if req.eta < 2:
        raise ConfigError(f"--eta: must be at least 2, got {req.eta}")
    return {"min_budget": lo, "max_budget": hi, "eta": req.eta}


def _check_positive(req: TuneRequest) -> None:
    for flag, value in (("--trials", req.trials), ("--parallel", req.parallel), ("--epochs", req.epochs),
                        ("--grid-points", req.grid_points)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag}: must be at least 1, got {value}")
    if req.max_retries < 0:
        raise ConfigError(f"--max-retries: must be 0 or more, got {req.max_retries}")
    if req.budget is not None and req.budget <= 0:
        raise ConfigError(f"--budget: must be positive, got {req.budget}")


def _check_command(command: str, names: list[str]) -> None:
    from jobs.command import check_template

    try:
        unknown = check_template(command, names)
    except ValueError as e:
        raise ConfigError(f"--command: malformed template: {e}") from None
    if unknown:
        raise ConfigError(f"--command: placeholder(s) {', '.join('{' + u + '}' for u in unknown)} are not "
                          f"hyperparameters of the space ({', '.join(names)})")


def _job_options(req: TuneRequest) -> dict[str, Any]:
    options = dict(req.job_options)
    if req.epochs:
        options["epochs"] = req.epochs
    return options


def _dataset_label(data: Any, default: str) -> str:
    """A short name for the dataset (it becomes part of task and study names)."""
    import re

    if not data:
        return default
    name = Path(str(data)).name
    for suffix in (".gz", ".csv", ".tsv", ".json", ".jsonl", ".parquet", ".npz"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name or str(data)).strip("-").lower() or default


def _task_features(info: Any, options: dict[str, Any]) -> dict[str, Any]:
    module = info.load()
    fn = getattr(module, "task_features", None)
    return dict(fn(options)) if fn else {}


def detach_study(loop: StudyLoop) -> str:
    """Submit `orch tune --resume STUDY` as a SLURM job and return its job id (the study exists)."""
    from orchestrator.executors.slurm import orch_argv, submit_controller

    store = loop.store
    loop.optimizer.close()
    options = SlurmOptions.from_dict(store.spec.executor) if store.spec.executor.get("kind") == "slurm" else SlurmOptions()
    if store.spec.executor.get("kind") != "slurm":
        raise ConfigError("--detach needs the SLURM executor (--partition or --executor slurm)")
    root = store.paths.root.resolve()
    argv = orch_argv(["tune", "--resume", store.spec.name, "--root", str(root), "--quiet"])
    job_id = submit_controller(options, argv, store.paths.slurm, f"orch-ctl-{store.spec.name}")
    store.journal.append("detached", controller_job=job_id)
    return job_id



_SBATCH_SOURCES = {"initial": "smac", "grid": "grid", "random": "random", "csv": "random"}


def write_sbatch(req: TuneRequest, source: str, csv_file: Path | None) -> Any:
    """`orch sbatch`: trials from a design (or a CSV) plus the sbatch array script(s) that run them."""
    from orchestrator.executors.slurm import SlurmExecutor
    from orchestrator.optimizers.base import Suggestion
    from orchestrator.store.paths import StudyPaths
    from orchestrator.templates import configs_from_csv, write_array

    if source not in _SBATCH_SOURCES:
        raise ConfigError(f"--from: unknown source '{source}' (initial, grid, random, csv)")
    if source == "csv" and csv_file is None:
        raise ConfigError("--from csv needs --csv FILE")
    if req.trials is not None and req.trials < 1:
        raise ConfigError(f"--trials: must be at least 1, got {req.trials}")
    n = req.trials or DEFAULT_TRIALS
    if StudyPaths(req.root, check_study_name(req.study or "")).study.exists():
        store = StudyStore.open(req.root, req.study or "")
    else:
        loop, _ = _create(replace(req, strategy=_SBATCH_SOURCES[source]), None)
        loop.optimizer.close()
        store = loop.store
    if store.spec.executor.get("kind") != "slurm":
        raise ConfigError(f"--study: study '{store.spec.name}' runs on the {store.spec.executor.get('kind')} executor")
    options = SlurmOptions.from_dict(store.spec.executor, source="study.json executor")
    executor = make_executor(store.spec, req.root)
    assert isinstance(executor, SlurmExecutor)
    space = store.load_space()
    configs = None
    optimizer = None
    if source == "csv":
        assert csv_file is not None
        configs = configs_from_csv(csv_file, list(space.keys()))
    else:
        if source == "initial":
            from orchestrator.optimizers.smac import SmacOptimizer

            optimizer = SmacOptimizer(space, seed=store.spec.seed, n_trials=4 * n, budget=store.spec.budget,
                                      n_initial=n)
        else:
            optimizer = study_optimizer(replace(store.spec, strategy=source), space, req.root)
        for rec in store.state().records.values():  # never the same configuration twice in a study
            optimizer.pending(Suggestion(rec.trial.config, rec.trial.budget, rec.trial.origin, rec.trial.seed))
    try:
        return write_array(store, optimizer, n, req.parallel or 1, options, source, configs, executor.max_array)
    finally:
        if optimizer is not None:
            optimizer.close()
