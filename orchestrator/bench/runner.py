"""Run strategies on a suite: every (task, strategy, seed) through the same ask/tell protocol the
studies use, leave-one-task-out for meta-learning strategies, in worker processes with a pinned
hash seed so that fixed seeds reproduce the numbers."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from orchestrator.bench.suites import Suite, load_suite
from orchestrator.errors import OrchError
from orchestrator.optimizers.base import Exhausted
from orchestrator.strategies import STRATEGIES, StrategyContext, build_optimizer, check_strategy
from orchestrator.task import Task


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


def meta_for(suite: Suite, task: str) -> Any:
    """The meta-dataset a task may learn from: every other task's table (leave-one-task-out)."""
    from orchestrator.metalearning.metadata import MetaData

    return MetaData.from_tables(suite, exclude=task)


def run_one(spec: RunSpec) -> RunResult:
    """One optimisation run on a lookup table; rows are the incumbent after each trial."""
    suite = suite_cached(spec.suite)
    table = suite.tasks[spec.task]
    strategy = STRATEGIES[check_strategy(spec.strategy)]
    task = Task(job=suite.name, dataset=spec.task, objective=suite.objective, minimize=True, features=table.features)
    ctx = StrategyContext(space=suite.space, seed=spec.seed, n_trials=spec.trials, task=task,
                          meta=meta_for(suite, spec.task) if strategy.uses_meta else None,
                          options={"grid_points": 3})
    t0 = time.time()
    opt = build_optimizer(spec.strategy, ctx)
    best, cum_cost, rows, evaluated = math.inf, 0.0, [], set()
    try:
        for trial in range(1, spec.trials + 1):
            try:
                sug = opt.ask()
            except Exhausted:
                break
            i = table.lookup(sug.config, suite.space, evaluated)
            evaluated.add(i)
            value, cost = float(table.objective[i]), float(table.cost[i])
            opt.tell(sug, value)
            best = min(best, value)
            cum_cost += cost
            rows.append({"suite": suite.name, "task": spec.task, "strategy": spec.strategy, "seed": spec.seed,
                         "trial": trial, "regret": table.regret(best), "cost": cum_cost, "value": value,
                         "origin": sug.origin})
    finally:
        opt.close()
    last = rows[-1] if rows else None
    for trial in range(len(rows) + 1, spec.trials + 1):  # an exhausted strategy keeps its incumbent
        if last is not None:
            rows.append({**last, "trial": trial, "origin": "exhausted"})
    return RunResult(spec, rows, time.time() - t0)


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
