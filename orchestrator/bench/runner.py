"""Run strategies on a suite: every (task, strategy, seed) through the study loop `orch tune` runs, with
a table executor, leave-one-task-out for meta-learning strategies, in worker processes with a pinned
hash seed so that fixed seeds reproduce the numbers."""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.bench.suites import Suite, load_suite
from orchestrator.errors import OrchError
from orchestrator.strategies import check_strategy
from orchestrator.task import Task
from orchestrator.trial import Trial, TrialResult, TrialStatus


@dataclass(frozen=True)
class RunSpec:
    suite: str
    task: str
    strategy: str
    seed: int
    trials: int


class BenchError(OrchError):
    """A benchmark run that cannot complete."""


@dataclass
class RunResult:
    spec: RunSpec
    rows: list[dict[str, Any]]
    seconds: float


_SUITES: dict[str, Suite] = {}


def suite_cached(name: str) -> Suite:
    if name not in _SUITES:
        _SUITES[name] = load_suite(name)
    return _SUITES[name]


def run_one(spec: RunSpec) -> RunResult:
    """One optimisation run on a lookup table, through the real study loop: the strategy is planned and
    built as `orch tune` plans and builds it, and each trial is a row of the table (a TableExecutor) in
    a scratch study folder. Rows are the incumbent after each trial."""
    from orchestrator.executors.table import TableExecutor
    from orchestrator.plan import Plan
    from orchestrator.session import open_study
    from orchestrator.spec import JobSpec, StudySpec
    from orchestrator.strategies import AUTO, STRATEGIES, plan_strategy

    suite = suite_cached(spec.suite)
    table = suite.tasks[spec.task]
    if table.curves is not None:
        return run_curves(spec)
    space = suite.space_of(spec.task)
    task = Task(job=suite.job_of(spec.task), dataset=spec.task, objective=table.objective_name or suite.objective,
                minimize=True, features=table.features)
    learns = spec.strategy == AUTO or STRATEGIES[check_strategy(spec.strategy)].uses_meta
    meta = suite.meta(exclude=spec.task) if learns else None
    t0 = time.time()
    strategy, _ = plan_strategy(spec.strategy, None, space, task, meta, spec.seed)
    study = StudySpec(name=f"bench-{spec.task.replace('/', '--')}-{spec.strategy}-{spec.seed}", task=task,
                      job=JobSpec("table", name=suite.name), strategy=strategy, seed=spec.seed,
                      n_trials=spec.trials, parallel=1, max_retries=0)
    evaluated: set[int] = set()

    def lookup(trial: Trial) -> TrialResult:
        i = table.lookup(trial.config, space, evaluated)  # a row this run has not evaluated yet
        evaluated.add(i)
        return TrialResult(TrialStatus.SUCCESS, objective=float(table.objective[i]), metrics={"row": float(i)},
                           wall_seconds=float(table.cost[i]), budget=trial.budget)

    with tempfile.TemporaryDirectory(prefix="orch-bench-", dir=_scratch()) as root:
        # SIGTERM keeps its default: a worker dies with its controller (or a broken pool)
        loop = open_study(Plan(study, space, [], meta), Path(root), executor=TableExecutor(lookup),
                          sigterm_stops=False)
        if loop.run().interrupted:  # Ctrl-C in a run of the controller's own process
            raise KeyboardInterrupt
        records = [loop.records[k] for k in sorted(loop.records)]
    best, cum_cost, rows = math.inf, 0.0, []
    for n, rec in enumerate(records, start=1):
        r = rec.result
        assert r is not None and r.objective is not None
        best = min(best, r.objective)
        cum_cost += r.wall_seconds
        rows.append({"suite": suite.name, "task": spec.task, "strategy": spec.strategy, "seed": spec.seed,
                     "trial": n, "regret": table.regret(best), "cost": cum_cost, "value": r.objective,
                     "origin": rec.trial.origin})
    last = rows[-1] if rows else None
    for n in range(len(rows) + 1, spec.trials + 1):  # an exhausted strategy keeps its incumbent
        if last is not None:
            rows.append({**last, "trial": n, "origin": "exhausted"})
    return RunResult(spec, rows, time.time() - t0)


#: a strategy that halts trials early, or gives them lower budgets, runs on a curves table until it has spent
#: the cost of ``trials`` full-budget trials, with at most this many trials per full-budget trial's cost
CURVE_TRIALS_PER_UNIT = 40


def run_curves(spec: RunSpec) -> RunResult:
    """One run on a curves table, through the real study loop with a curve-replaying executor: trials
    report epoch by epoch and a strategy that acts on learning curves stops, pauses and resumes them. A
    strategy that spends less than a full trial per trial (asha, meta-asha, hyperband, bohb) runs until
    its cumulative training cost reaches ``trials`` full-budget trials of the task; the others run
    ``trials`` trials. Rows: the incumbent after each finished trial, in the order they finished, with the
    cumulative cost in units of one full-budget trial of the task (the mean over its configurations)."""
    from dataclasses import replace

    from orchestrator.executors.curve_table import CurveTableExecutor
    from orchestrator.optimizers.base import config_key
    from orchestrator.plan import Plan
    from orchestrator.session import open_study
    from orchestrator.spec import AshaOptions, FidelityOptions, JobSpec, StudySpec
    from orchestrator.strategies import AUTO, STRATEGIES, plan_strategy

    suite = suite_cached(spec.suite)
    table = suite.tasks[spec.task]
    curves = table.curves
    assert curves is not None
    space = suite.space_of(spec.task)
    objective = table.objective_name or suite.objective
    task = Task(job=suite.job_of(spec.task), dataset=spec.task, objective=objective, minimize=True,
                features=table.features)
    entry = STRATEGIES[check_strategy(spec.strategy)] if spec.strategy != AUTO else None
    learns = entry is None or entry.uses_meta
    meta = suite.meta(exclude=spec.task) if learns else None
    options = entry.options if entry is not None else None
    cheap = isinstance(options, (FidelityOptions, AshaOptions))
    if cheap:  # judged from the table's first telling epoch on
        options = replace(options, min_budget=curves.min_budget, max_budget=curves.max_budget)
    t0 = time.time()
    strategy, _ = plan_strategy(spec.strategy, options if cheap else None, space, task, meta, spec.seed)
    n_trials = spec.trials * CURVE_TRIALS_PER_UNIT if cheap else spec.trials
    study = StudySpec(name=f"bench-{spec.task.replace('/', '--')}-{spec.strategy}-{spec.seed}", task=task,
                      job=JobSpec("table", name=suite.name), strategy=strategy, seed=spec.seed,
                      n_trials=n_trials, parallel=1, max_retries=0)
    evaluated: set[int] = set()
    rows_of: dict[str, int] = {}

    def lookup(trial: Trial, after: float) -> tuple[int, list[tuple[float, float, float]]]:
        key = config_key(trial.config)
        if key not in rows_of:  # a new configuration: a row this run has not evaluated; a continuation: its own
            rows_of[key] = table.lookup(trial.config, space, evaluated)
            evaluated.add(rows_of[key])
        i = rows_of[key]
        return i, curves.segment(i, after, trial.budget)

    unit = curves.unit
    with tempfile.TemporaryDirectory(prefix="orch-bench-", dir=_scratch()) as root:
        loop = open_study(Plan(study, space, [], meta), Path(root), executor=CurveTableExecutor(lookup, objective),
                          sigterm_stops=False, max_cost=spec.trials * unit if cheap else None)
        if loop.run().interrupted:
            raise KeyboardInterrupt
        order = [tid for kind, tid, _ in loop.store.state().events if kind == "finished"]
        records = [loop.records[t] for t in dict.fromkeys(order)]
    best, cum, rows = math.inf, 0.0, []
    for n, rec in enumerate(records, start=1):
        r = rec.result
        assert r is not None
        cum += r.wall_seconds
        if r.ok and r.objective is not None:
            best = min(best, r.objective)
        rows.append({"suite": suite.name, "task": spec.task, "strategy": spec.strategy, "seed": spec.seed,
                     "trial": n, "regret": table.regret(best) if math.isfinite(best) else 1.0, "cost": cum / unit,
                     "value": r.objective, "origin": rec.trial.origin, "epochs": r.budget, "halted": r.halted})
    if not cheap:
        last = rows[-1] if rows else None
        for n in range(len(rows) + 1, spec.trials + 1):
            if last is not None:
                rows.append({**last, "trial": n, "origin": "exhausted"})
    return RunResult(spec, rows, time.time() - t0)


def _scratch() -> str | None:
    """Scratch study folders in memory where there is a tmpfs (the journal's fsyncs cost nothing there)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _init_worker(controller: int | None = None) -> None:
    """Each worker is one single-threaded run: torch and BLAS threads would only fight the others.
    It dies with the controller (a `kill` of `orch bench run` left its workers behind, idle for good)."""
    _die_with(controller)
    import torch

    from orchestrator.optimizers.bnn_core import single_threaded_blas

    torch.set_num_threads(1)
    single_threaded_blas()


def _die_with(controller: int | None) -> None:
    """Linux: SIGTERM this process when ``controller`` (its parent) ends, however it ends."""
    import signal
    import sys

    if controller is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != controller:  # it ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_all(specs: list[RunSpec], workers: int = 2,
            progress: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Run every spec; with workers > 1 in spawned processes with PYTHONHASHSEED=0."""
    results: list[RunResult] = []
    if workers <= 1:
        for s in specs:
            r = run_one(s)
            results.append(r)
            if progress:
                progress(r)
        return results
    import multiprocessing as mp

    from concurrent.futures.process import BrokenProcessPool

    previous = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"  # read by the spawned interpreters at start-up
    todo, deaths = list(specs), 0
    try:
        while todo:  # a worker that dies (killed, out of memory) costs a fresh pool, not the finished runs
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                         initializer=_init_worker, initargs=(os.getpid(),)) as pool:
                    futures = {pool.submit(run_one, s): s for s in todo}
                    for fut in as_completed(futures):
                        r = fut.result()
                        todo.remove(futures[fut])
                        results.append(r)
                        if progress:
                            progress(r)
            except BrokenProcessPool:
                deaths += 1
                if deaths > 3:
                    raise BenchError(f"benchmark worker processes died {deaths} times (killed, or out of memory?); "
                                     f"{len(results)} of {len(specs)} runs finished") from None
                print(f"[orch] a benchmark worker died; rerunning {len(todo)} unfinished runs in a fresh pool",
                      flush=True)
    finally:
        if previous is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = previous
    order = {s: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order[r.spec])
    return results
