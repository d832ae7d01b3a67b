"""Planning: what the user asked for (a TuneRequest) becomes a StudySpec. Builds nothing.

Every option is checked here, before anything is written or started; a meta-learning strategy's warm
start is planned here from the meta-dataset and recorded in the spec, so a resume (and `--detach`,
and `orch sbatch`) reuse it. ``session.py`` then opens the study's runtime from the plan.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.executors.profile import SlurmOptions, find_profile, load_profile, parse_time
from orchestrator.spec import (
    AshaOptions,
    FidelityOptions,
    GridOptions,
    JobSpec,
    MetaAshaOptions,
    MetaOptions,
    StrategyOptions,
    StrategySpec,
    StudySpec,
)
from orchestrator.store.paths import check_study_name
from orchestrator.task import Task, clean_features

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.metalearning.metadata import MetaData

DEFAULT_TRIALS = 20


@dataclass(frozen=True)
class TuneRequest:
    """The options of `orch tune` (and `orch sbatch`) as the user gave them."""

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
    #: the strategy's options as a typed record (e.g. a table's pool), in place of those derived from flags
    strategy_options: StrategyOptions | None = None
    warm_configs: int | None = None  # None: the strategy's own default
    min_budget: float | None = None
    max_budget: float | None = None
    eta: int = 3
    retry_crashed: bool = False  # resume only: crashed trials run again
    task_name: str | None = None  # --command: the task's name (past studies of the same name are the same job)
    #: the options the user gave on the command line (a resume refuses those it cannot apply)
    given: frozenset[str] = frozenset()


@dataclass
class Plan:
    """A new study, planned: its spec, its space, what to tell the user, and the meta-dataset it was
    planned from (reused by the runtime so it is loaded once)."""

    spec: StudySpec
    space: ConfigurationSpace
    notes: list[str]
    meta: MetaData | None = None


def plan_study(req: TuneRequest) -> Plan:
    """A new study from ``req``: everything validated, nothing written."""
    from jobs.command import check_command, conditional_names
    from jobs.registry import DEFAULT_JOB, check_options, get_job, presets
    from orchestrator.space import fix_hyperparameters, load_space
    from orchestrator.strategies import check_strategy

    if req.retry_crashed:
        raise ConfigError("--retry-crashed: only with --resume (a new study has no crashed trials)")
    notes: list[str] = []
    check_strategy(req.strategy)
    _check_positive(req)
    if req.job and req.command:
        raise ConfigError("--job and --command: give one of them, not both")
    if req.task_name and not req.command:
        raise ConfigError("--task-name: only with --command (a built-in job's task is the job and its dataset)")
    options = dict(req.job_options)
    epochs = _epochs(req, options)
    if req.command:
        if not req.space:
            raise ConfigError("--command needs --space (a YAML or ConfigSpace JSON file)")
        if not req.objective:
            raise ConfigError("--command needs --objective (the metric name your command writes)")
        space = load_space(req.space, presets=presets())
        check_command(req.command, list(space.keys()), conditional_names(space))
        check_options("command", options, ())
        job = JobSpec(kind="command", command=req.command, cwd=str(Path(req.cwd or ".").resolve()), options=options)
        task = Task(job=command_job(req.command, space, req.task_name), dataset=req.dataset_label or "custom",
                    objective=req.objective, minimize=bool(req.minimize))
        default_epochs = None
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
        check_options(name, options, info.options)
        if options.get("data") and Path(str(options["data"])).expanduser().exists():
            options["data"] = str(Path(str(options["data"])).expanduser().resolve())  # valid from any node / cwd
        job = JobSpec(kind="builtin", name=name, options=options)
        module = info.load()
        check = getattr(module, "check", None)
        if check is not None:
            check(options)  # e.g. the transformer can be loaded, before anything is written
        features = clean_features(dict(module.task_features(options)) if hasattr(module, "task_features") else {})
        dataset = req.dataset_label or dataset_label(options.get("data"), info.datasets[0])
        task = Task(job=name, dataset=dataset, objective=objective, minimize=minimize, features=features)
        default_epochs = info.default_epochs
    if req.fixed:
        space = fix_hyperparameters(space, req.fixed)
    knobs = strategy_options(req, epochs, default_epochs)
    budget = None if isinstance(knobs, (FidelityOptions, AshaOptions)) else (
        req.budget if req.budget is not None else (float(epochs) if epochs else None))
    study = check_study_name(req.study or f"{task.job}-{req.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")
    spec = StudySpec(name=study, task=task, job=job, strategy=StrategySpec(req.strategy, knobs),
                     seed=req.seed, n_trials=req.trials or DEFAULT_TRIALS, parallel=req.parallel or 1,
                     max_retries=req.max_retries, budget=budget, executor=_executor_options(req, study))
    spec, meta_notes, meta = _plan_strategy(spec, space, req)
    return Plan(spec, space, notes + meta_notes, meta)


#: what a resume applies; every other option of `orch tune` belongs to the study as it was started
RESUME_OPTIONS = frozenset({"resume", "root", "trials", "parallel", "max_retries", "retry_crashed", "quiet",
                            "detach"})
FLAGS = {"time_limit": "--time", "job_option": "-o", "meta_root": "--meta-root", "minimize": "--minimize/--maximize"}


def plan_resume(req: TuneRequest, spec: StudySpec, finished: int = 0) -> tuple[StudySpec, list[str]]:
    """The recorded study with what a resume may change (the trial target, trials at once, retries). An
    option it cannot apply (a strategy, a seed, a job, ...) is refused, never silently ignored."""
    fixed = sorted(req.given - RESUME_OPTIONS)
    if fixed:
        flags = [FLAGS.get(n, "--" + n.replace("_", "-")) for n in fixed]
        more = f" (also {', '.join(flags[1:])})" if flags[1:] else ""
        raise ConfigError(f"{flags[0]}: a resumed study keeps what it was started with{more}; start a new study "
                          f"(--study NAME) to change it")
    if req.trials is not None and req.trials < finished:
        raise ConfigError(f"--trials {req.trials}: study '{spec.name}' has {finished} finished trials already "
                          f"(give at least {finished}, or leave --trials out)")
    notes = [f"resuming study '{spec.name}'"]
    if "max_retries" in req.given and req.max_retries != spec.max_retries:
        if req.max_retries < 0:
            raise ConfigError(f"--max-retries: must be 0 or more, got {req.max_retries}")
        notes.append(f"retries after TIMEOUT / PREEMPTED / NODE_FAIL changed from {spec.max_retries} to "
                     f"{req.max_retries}")
        spec = replace(spec, max_retries=req.max_retries)
    if req.trials and req.trials != spec.n_trials:
        notes.append(f"target changed from {spec.n_trials} to {req.trials} trials")
        spec = spec.with_trials(req.trials)
    if req.parallel and req.parallel != spec.parallel:
        notes.append(f"trials at once changed from {spec.parallel} to {req.parallel}")
        spec = replace(spec, parallel=req.parallel)
    return spec, notes


def _plan_strategy(spec: StudySpec, space: ConfigurationSpace, req: TuneRequest
                   ) -> tuple[StudySpec, list[str], MetaData | None]:
    """A meta-learning strategy (or `auto`) learns from the meta-dataset of the results roots: its warm
    start and the past studies it learns from are recorded with the roots, so that a resume reuses them."""
    from orchestrator.strategies import AUTO, STRATEGIES, plan_strategy

    name = spec.strategy.name
    if name != AUTO and not STRATEGIES[name].uses_meta:
        return spec, [], None
    from orchestrator.metalearning.views import meta_roots
    from orchestrator.metalearning.warmstart import load_meta

    roots = tuple(str(r.resolve()) for r in meta_roots(req.root, list(req.meta_roots)))  # valid from any cwd
    meta = load_meta([Path(r) for r in roots], exclude_study=spec.name)
    notes = [f"meta-dataset: skipped {p}" for p in meta.problems]
    strategy, more = plan_strategy(name, spec.strategy.options, space, spec.task, meta, spec.seed)
    if strategy.warm is not None:
        strategy = replace(strategy, warm=replace(strategy.warm, roots=roots))
    more = [m.replace("in the meta-dataset;", f"in the meta-dataset ({', '.join(roots)});") for m in more]
    return replace(spec, strategy=strategy), notes + more, meta


def strategy_options(req: TuneRequest, epochs: int | None = None, default_epochs: int | None = None) -> StrategyOptions:
    """The typed options of the strategy asked for, from the flags that belong to it."""
    from orchestrator.strategies import AUTO, AUTO_LEARNER, STRATEGIES

    entry = STRATEGIES[AUTO_LEARNER if req.strategy == AUTO else req.strategy]
    if not entry.fidelity and (req.min_budget is not None or req.max_budget is not None):
        fid = " and ".join(s.name for s in STRATEGIES.values() if s.fidelity)
        raise ConfigError(f"--min-budget/--max-budget: only for {fid} (got --strategy {req.strategy})")
    if req.strategy_options is not None:
        return req.strategy_options
    default = entry.options
    if isinstance(default, (AshaOptions, FidelityOptions)):
        hi = float(req.max_budget or epochs or default_epochs or default.max_budget)
        # ASHA judges from its rungs' first epoch; Hyperband's lowest budget is eta^2 below the full one
        lo = float(req.min_budget or (default.min_budget if isinstance(default, AshaOptions)
                                      else max(1.0, round(hi / req.eta**2))))
        if not 0 < lo < hi:
            raise ConfigError(f"--min-budget/--max-budget: need 0 < min ({lo:g}) < max ({hi:g})")
        if req.eta < 2:
            raise ConfigError(f"--eta: must be at least 2, got {req.eta}")
        if isinstance(default, FidelityOptions):
            return FidelityOptions(lo, hi, req.eta)
        asha = replace(default, min_budget=lo, max_budget=hi, eta=req.eta)
        return _warm_configs(req, asha) if isinstance(asha, MetaAshaOptions) else asha
    if isinstance(default, GridOptions):
        return GridOptions(req.grid_points)
    if isinstance(default, MetaOptions):
        return _warm_configs(req, default)
    return default



def _warm_configs(req: TuneRequest, opts: Any) -> Any:
    """``opts`` with --warm-configs applied (0 or more), when given."""
    if req.warm_configs is None:
        return opts
    if req.warm_configs < 0:
        raise ConfigError(f"--warm-configs: must be 0 or more, got {req.warm_configs}")
    return replace(opts, warm_configs=req.warm_configs)


def _epochs(req: TuneRequest, options: dict[str, Any]) -> int | None:
    """--epochs, or `-o epochs=N` (the same thing said as a job option; never both, differently)."""
    given = options.pop("epochs", None)
    if given is None:
        return req.epochs
    try:
        n = int(given)
    except (TypeError, ValueError):
        raise ConfigError(f"-o epochs: expected a whole number, got {given!r}") from None
    if req.epochs is not None and req.epochs != n:
        raise ConfigError(f"--epochs {req.epochs} and -o epochs={n}: give the epochs once")
    if n < 1:
        raise ConfigError(f"-o epochs: must be at least 1, got {n}")
    return n


def _executor_options(req: TuneRequest, study: str) -> dict[str, Any]:
    """Where trials run: SLURM (its options merged over the cluster profile's) or local processes, which
    take only a per-trial time limit (--time, else the profile's)."""
    if req.executor not in ("local", "slurm"):
        raise ConfigError(f"--executor: unknown executor '{req.executor}' (local, slurm)")
    if req.executor == "slurm" or req.slurm.partition or req.profile:
        options = load_profile(find_profile(req.profile)).merged(req.slurm)
        if options.job_name is None:
            options = replace(options, job_name=f"orch-{study}")
        options.extra_parameters()  # --sbatch-extra is checked before anything is written
        parse_time(options.time)
        return {"kind": "slurm", **options.to_dict()}
    if replace(req.slurm, time=None) != SlurmOptions():
        raise ConfigError("SLURM options (--gres, --mem, ...) need --partition or --executor slurm")
    time_limit = req.slurm.time or load_profile(find_profile(None)).time
    if time_limit is None:
        return {"kind": "local"}
    parse_time(time_limit)  # one line naming --time when it is not a time
    return {"kind": "local", "time": str(time_limit)}


def _check_positive(req: TuneRequest) -> None:
    for flag, value in (("--trials", req.trials), ("--parallel", req.parallel), ("--epochs", req.epochs),
                        ("--grid-points", req.grid_points)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag}: must be at least 1, got {value}")
    if req.max_retries < 0:
        raise ConfigError(f"--max-retries: must be 0 or more, got {req.max_retries}")
    if req.budget is not None and req.budget <= 0:
        raise ConfigError(f"--budget: must be positive, got {req.budget}")


def command_job(command: str, space: ConfigurationSpace, name: str | None = None) -> str:
    """The job a --command study is: the name the user gave it (--task-name), else its command and space
    ("command-" and a hash of both): two different scripts in one root are two jobs, never one."""
    import hashlib

    from orchestrator.space import space_to_json

    if name:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            raise ConfigError(f"--task-name: {name!r} must be letters, digits, '.', '_' or '-' (up to 64)")
        return name
    digest = hashlib.sha256(f"{command}\n{space_to_json(space)}".encode()).hexdigest()[:8]
    return f"command-{digest}"


def dataset_label(data: Any, default: str) -> str:
    """A short name for the dataset (part of task and study names): one per dataset, however it is given
    (a path, a file name under $ORCH_DATASETS, a name)."""
    from jobs.data import dataset_label as label

    return label(None if data is None else str(data), default)
