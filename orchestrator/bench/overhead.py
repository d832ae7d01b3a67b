"""Orchestration cost on a real SLURM cluster: orch vs raw submitit on the same trivial trials.

Runs (1) raw submitit ``map_array`` of N trivial functions, (2) an orch random study of N instant
branin trials (one job array), (3) an orch SMAC study (model-based asks, one per freed slot) and
reports end-to-end trials/s, controller CPU seconds per trial, sacct calls per minute and the
median gap between a trial's end and the next submission.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def trivial(x: int) -> int:
    """What the raw submitit baseline runs in each job."""
    return x


@dataclass
class OverheadRow:
    run: str
    trials: int
    parallel: int
    wall_s: float
    trials_per_s: float
    controller_cpu_s_per_trial: float
    scheduler_cpu_s_per_trial: float
    sacct_calls: int
    sacct_per_min: float
    sbatch_calls: int
    median_gap_s: float | None


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def raw_submitit(folder: Path, n: int, parallel: int, partition: str) -> OverheadRow:
    import submitit

    ex = submitit.SlurmExecutor(folder=str(folder))
    ex.update_parameters(partition=partition, time=None, array_parallelism=parallel, job_name="orch-bench-raw")
    c0, k0 = _cpu()
    t0 = time.time()
    jobs = ex.map_array(trivial, list(range(n)))
    pending = list(jobs)
    while pending:
        pending = [j for j in pending if not j.done()]
        if pending:
            time.sleep(0.25)
    wall = time.time() - t0
    c1, k1 = _cpu()
    assert [j.result() for j in jobs] == list(range(n))
    return OverheadRow("raw submitit map_array", n, parallel, wall, n / wall, (c1 - c0) / n, (k1 - k0) / n,
                       0, 0.0, 1, None)


def orch_study(root: Path, name: str, n: int, parallel: int, partition: str, strategy: str) -> OverheadRow:
    from orchestrator.executors.profile import SlurmOptions
    from orchestrator.session import TuneRequest, prepare

    c0, k0 = _cpu()
    t0 = time.time()
    loop, notes = prepare(TuneRequest(root=root, study=name, job="branin", strategy=strategy, trials=n,
                                      parallel=parallel, slurm=SlurmOptions(partition=partition)))
    out = loop.run(notes)
    wall = time.time() - t0
    c1, k1 = _cpu()
    stats = loop.executor.stats  # type: ignore[attr-defined]
    assert out.progress.done == n, out
    return OverheadRow(f"orch {strategy}", n, parallel, wall, n / wall, (c1 - c0) / n, (k1 - k0) / n,
                       stats.sacct_calls, stats.sacct_calls / (wall / 60), stats.sbatch_calls,
                       median_gap(loop.store.journal.read()))


def median_gap(events: list[dict[str, Any]]) -> float | None:
    """Median seconds from a trial's end (its result's timestamp) to the next submission."""
    submits = sorted(float(e["t"]) for e in events if e["event"] == "submitted")
    gaps = []
    for e in events:
        if e["event"] != "finished":
            continue
        end = e["result"].get("finished")
        if end is None:
            continue
        later = [t for t in submits if t >= float(end)]
        if later:
            gaps.append(later[0] - float(end))
    return statistics.median(gaps) if gaps else None


def run_overhead(out: Path, trials: int = 200, parallel: int = 8, partition: str = "cpu",
                 smac_trials: int = 60) -> list[OverheadRow]:
    stamp = time.strftime("%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        raw_submitit(out / "raw-submitit", trials, parallel, partition),
        orch_study(out / "results", f"bench-random-{stamp}", trials, parallel, partition, "random"),
        orch_study(out / "results", f"bench-smac-{stamp}", smac_trials, parallel, partition, "smac"),
    ]
    import pandas as pd

    pd.DataFrame([asdict(r) for r in rows]).to_csv(out / "overhead.csv", index=False)
    return rows
