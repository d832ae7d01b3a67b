"""Opening a study's runtime: the one place that builds executors, optimisers and study folders.

A new study is planned first (``plan.plan_study``: everything checked, nothing built); then
``open_study`` checks the cluster options with the scheduler, builds the optimiser and only then
writes the study folder. A resume opens the folder and rebuilds the same optimiser from the spec.
``--detach`` and ``orch sbatch`` go through the same plan and build only what they use.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError
from orchestrator.executors.base import Executor
from orchestrator.executors.profile import SlurmOptions
from orchestrator.optimizers.base import Optimizer
from orchestrator.plan import DEFAULT_TRIALS, Plan, TuneRequest, plan_resume, plan_study, strategy_options
from orchestrator.spec import StrategySpec, StudySpec
from orchestrator.store.paths import StudyPaths, check_study_name
from orchestrator.store.study import StudyStore
from orchestrator.tune import Reporter, StudyLoop

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.metalearning.metadata import MetaData
    from orchestrator.templates import ArrayScripts

__all__ = ["TuneRequest", "prepare", "open_study", "create_study", "study_optimizer", "make_executor", "detach",
           "write_sbatch"]


def prepare(req: TuneRequest, reporter: Reporter | None = None) -> tuple[StudyLoop, list[str]]:
    """The loop of a new study (planned from ``req``) or of a resumed one, and the start-up notes."""
    if req.resume:
        store, notes = _reopen(req)
        loop = StudyLoop(store, make_executor(store.spec, req.root),
                         study_optimizer(store.spec, store.load_space()), reporter,
                         max_failures=req.max_failures, retry_crashed=req.retry_crashed)
        return loop, notes
    plan = plan_study(req)
    return open_study(plan, req.root, reporter, max_failures=req.max_failures), plan.notes


def open_study(plan: Plan, root: Path, reporter: Reporter | None = None, *, executor: Executor | None = None,
               max_failures: int | None = None, sigterm_stops: bool = True, max_cost: float | None = None) -> StudyLoop:
    """Create the planned study and everything that runs it. The scheduler checks the cluster options and
    the optimiser is built before the study folder is written, so a refusal leaves nothing behind."""
    from orchestrator.space import space_to_json

    if executor is None:
        check_cluster(plan.spec)
        executor = make_executor(plan.spec, root)
    optimizer = study_optimizer(plan.spec, plan.space, plan.meta)
    store = StudyStore.create(root, plan.spec, space_to_json(plan.space))
    return StudyLoop(store, executor, optimizer, reporter, max_failures=max_failures, sigterm_stops=sigterm_stops,
                     max_cost=max_cost)


def create_study(req: TuneRequest) -> StudyStore:
    """Plan and write a new study without running it (its trials start on `orch tune --resume`)."""
    from orchestrator.space import space_to_json

    plan = plan_study(req)
    check_cluster(plan.spec)
    return StudyStore.create(req.root, plan.spec, space_to_json(plan.space))


def study_optimizer(spec: StudySpec, space: ConfigurationSpace, meta: MetaData | None = None) -> Optimizer:
    """The study's optimiser from its recorded strategy, built by the registry as the benchmark builds it.
    A meta-learning strategy learns from ``meta``, else from the past studies it recorded when it
    started (read from the recorded roots), never from its own trials."""
    from orchestrator.strategies import STRATEGIES, StrategyContext, build_optimizer

    warm = spec.strategy.warm
    if meta is None and STRATEGIES[spec.strategy.name].uses_meta and warm is not None and warm.roots:
        from orchestrator.metalearning.metadata import MetaData
        from orchestrator.metalearning.warmstart import load_meta

        loaded = load_meta([Path(r) for r in warm.roots], exclude_study=spec.name)
        meta = MetaData(loaded.df[loaded.df["study"].isin(set(warm.studies))])
    return build_optimizer(StrategyContext(space=space, strategy=spec.strategy, seed=spec.seed, n_trials=spec.n_trials,
                                           budget=spec.budget, task=spec.task, meta=meta))


def make_executor(spec: StudySpec, root: Path) -> Executor:
    kind = str(spec.executor.get("kind", "local"))
    if kind == "local":
        from orchestrator.executors.local import LocalExecutor
        from orchestrator.executors.profile import parse_time

        return LocalExecutor(parallel=spec.parallel,
                             time_limit=parse_time(spec.executor.get("time"), source="study.json executor time"))
    if kind == "slurm":
        from orchestrator.executors.slurm import SlurmExecutor

        return SlurmExecutor(_slurm_options(spec), StudyPaths(root, spec.name).slurm, spec.parallel)
    raise ConfigError(f"--executor: unknown executor '{kind}' (local, slurm)")


def check_cluster(spec: StudySpec) -> None:
    """The scheduler's verdict on a SLURM study's options (`sbatch --test-only`), before anything runs."""
    if spec.executor.get("kind") == "slurm":
        from orchestrator.executors.slurm import validate_options

        validate_options(_slurm_options(spec))


def _slurm_options(spec: StudySpec) -> SlurmOptions:
    return SlurmOptions.from_dict(spec.executor, source="study.json executor")


def _reopen(req: TuneRequest) -> tuple[StudyStore, list[str]]:
    store = StudyStore.open(req.root, req.resume or "")
    spec, notes = plan_resume(req, store.spec, len(store.state().finished))
    if spec != store.spec:
        store.update_spec(spec)
    return store, notes


def detach(req: TuneRequest) -> tuple[str, str]:
    """`--detach`: the study (new or resumed) is controlled by `orch tune --resume` running as a SLURM job.
    Builds no optimiser and no executor here; returns (study, controller job id)."""
    from orchestrator.executors.slurm import orch_argv, submit_controller

    if req.resume:
        store, _ = _reopen(req)
    else:
        if req.executor != "slurm" and not req.slurm.partition and not req.profile:
            raise ConfigError("--detach needs the SLURM executor (--partition or --executor slurm)")
        store = create_study(req)
    if store.spec.executor.get("kind") != "slurm":
        raise ConfigError("--detach needs the SLURM executor (--partition or --executor slurm)")
    root = store.paths.root.resolve()
    argv = orch_argv(["tune", "--resume", store.spec.name, "--root", str(root), "--quiet"])
    job_id = submit_controller(_slurm_options(store.spec), argv, store.paths.slurm, f"orch-ctl-{store.spec.name}")
    store.journal.append("detached", controller_job=job_id)
    return store.spec.name, job_id


def write_sbatch(req: TuneRequest, source: str, csv_file: Path | None) -> ArrayScripts:
    """`orch sbatch`: trials from a design (or a CSV) plus the sbatch array script(s) that run them."""
    from orchestrator.executors.slurm import cluster_max_array
    from orchestrator.optimizers.base import Suggestion
    from orchestrator.strategies import SBATCH_SOURCES, StrategyContext, batch_optimizer
    from orchestrator.templates import configs_from_csv, write_array

    if source not in SBATCH_SOURCES and source != "csv":
        raise ConfigError(f"--from: unknown source '{source}' ({', '.join(SBATCH_SOURCES)}, csv)")
    if source == "csv" and csv_file is None:
        raise ConfigError("--from csv needs --csv FILE")
    if req.trials is not None and req.trials < 1:
        raise ConfigError(f"--trials: must be at least 1, got {req.trials}")
    n = req.trials or DEFAULT_TRIALS
    entry = SBATCH_SOURCES.get(source, SBATCH_SOURCES["random"])
    if StudyPaths(req.root, check_study_name(req.study or "")).study.exists():
        store = StudyStore.open(req.root, req.study or "")
    else:
        store = create_study(replace(req, strategy=entry.name))
    if store.spec.executor.get("kind") != "slurm":
        raise ConfigError(f"--study: study '{store.spec.name}' runs on the {store.spec.executor.get('kind')} executor")
    space = store.load_space()
    configs = None
    optimizer = None
    if source == "csv":
        assert csv_file is not None
        configs = configs_from_csv(csv_file, list(space.keys()))
    else:
        spec = store.spec
        strategy = StrategySpec(entry.name, strategy_options(replace(req, strategy=entry.name)))
        optimizer = batch_optimizer(StrategyContext(space=space, strategy=strategy, seed=spec.seed,
                                                    n_trials=spec.n_trials, budget=spec.budget, task=spec.task), n)
        for rec in store.state().records.values():  # never the same configuration twice in a study
            optimizer.pending(Suggestion(rec.trial.config, rec.trial.budget, rec.trial.origin, rec.trial.seed))
    try:
        return write_array(store, optimizer, n, req.parallel or 1, _slurm_options(store.spec), source, configs,
                           cluster_max_array())
    finally:
        if optimizer is not None:
            optimizer.close()
