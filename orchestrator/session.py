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
    parallel: int = 1
    seed: int = 0
    resume: str | None = None
    objective: str | None = None
    minimize: bool | None = None
    budget: float | None = None
    epochs: int | None = None
    max_retries: int = 2
    grid_points: int = 3
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)
    job_options: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    dataset_label: str | None = None
    meta_roots: tuple[str, ...] = ()
    max_failures: int | None = None


DEFAULT_TRIALS = 20


def prepare(req: TuneRequest, reporter: Reporter | None = None) -> tuple[StudyLoop, list[str]]:
    """Build (or reopen) the study and everything that runs it. Returns the loop and start-up notes."""
    if req.resume:
        return _resume(req, reporter)
    return _create(req, reporter)


def _create(req: TuneRequest, reporter: Reporter | None) -> tuple[StudyLoop, list[str]]:
    from orchestrator.space import fix_hyperparameters, load_space, space_to_json
    from orchestrator.strategies import build_optimizer, check_strategy

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
        job = JobSpec(kind="builtin", name=name, options=options)
        features = clean_features(_task_features(info, options))
        dataset = req.dataset_label or str(options.get("data") or info.datasets[0])
        task = Task(job=name, dataset=dataset, objective=objective, minimize=minimize, features=features)
    if req.fixed:
        space = fix_hyperparameters(space, req.fixed)
    study = check_study_name(req.study or f"{task.job}-{req.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")
    spec = StudySpec(
        name=study, task=task, job=job, strategy=req.strategy, seed=req.seed,
        n_trials=req.trials or DEFAULT_TRIALS, parallel=req.parallel, max_retries=req.max_retries,
        budget=req.budget if req.budget is not None else (float(req.epochs) if req.epochs else None),
        executor={"kind": req.executor, **req.executor_options},
        strategy_options={"grid_points": req.grid_points}, meta_roots=tuple(req.meta_roots),
    )
    executor = make_executor(spec, req.root)  # validates executor options before anything is written
    optimizer = build_optimizer(spec, space)
    store = StudyStore.create(req.root, spec, space_to_json(space))
    loop = StudyLoop(store, executor, optimizer, reporter, max_failures=req.max_failures)
    return loop, notes


def _resume(req: TuneRequest, reporter: Reporter | None) -> tuple[StudyLoop, list[str]]:
    from orchestrator.strategies import build_optimizer

    store = StudyStore.open(req.root, req.resume or "")
    notes = [f"resuming study '{store.spec.name}'"]
    if req.trials and req.trials != store.spec.n_trials:
        notes.append(f"target changed from {store.spec.n_trials} to {req.trials} trials")
        store.update_spec(store.spec.with_trials(req.trials))
    spec = store.spec
    executor = make_executor(spec, req.root)
    optimizer = build_optimizer(spec, store.load_space())
    return StudyLoop(store, executor, optimizer, reporter, max_failures=req.max_failures), notes


def make_executor(spec: StudySpec, root: Path) -> Executor:
    kind = str(spec.executor.get("kind", "local"))
    if kind == "local":
        from orchestrator.executors.local import LocalExecutor

        return LocalExecutor(parallel=spec.parallel)
    raise ConfigError(f"--executor: unknown executor '{kind}' (local)")


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


def _task_features(info: Any, options: dict[str, Any]) -> dict[str, Any]:
    module = info.load()
    fn = getattr(module, "task_features", None)
    return dict(fn(options)) if fn else {}


def with_root(req: TuneRequest, root: Path) -> TuneRequest:
    return replace(req, root=root)
