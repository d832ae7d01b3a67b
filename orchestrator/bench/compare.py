"""`orch bench run`: compare strategies on a suite and write runs.csv, summary.csv, a markdown table
and PNG plots under --out."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.bench import metrics, plots
from orchestrator.bench.runner import RunResult, RunSpec, run_all, suite_cached
from orchestrator.errors import ConfigError
from orchestrator.store.atomic import atomic_write_text
from orchestrator.strategies import check_strategy


@dataclass
class Comparison:
    runs: pd.DataFrame
    summary: pd.DataFrame
    headline: pd.DataFrame
    markdown: str
    files: list[Path]
    seconds: float


def compare(suite: str, strategies: list[str], seeds: int, trials: int, out: Path, workers: int = 2,
            tasks: list[str] | None = None, progress: Callable[[RunResult], None] | None = None,
            first_seed: int = 0) -> Comparison:
    for s in strategies:
        check_strategy(s)
    if seeds < 1 or trials < 1:
        raise ConfigError("--seeds and --trials must be at least 1")
    st = suite_cached(suite)
    names = tasks or sorted(st.tasks)
    unknown = [t for t in names if t not in st.tasks]
    if unknown:
        raise ConfigError(f"--tasks: unknown task(s) {', '.join(unknown)} (suite has {', '.join(sorted(st.tasks))})")
    specs = [RunSpec(suite, t, s, seed, trials) for s in strategies for t in names
             for seed in range(first_seed, first_seed + seeds)]
    t0 = time.time()
    results = run_all(specs, workers=workers, progress=progress)
    seconds = time.time() - t0
    runs = pd.DataFrame([row for r in results for row in r.rows])
    summ = metrics.summary(runs)
    head = metrics.headline(runs, trials, strategies)
    title = f"{st.name}: {len(names)} tasks x {seeds} seeds, leave-one-task-out"
    md = metrics.markdown(head, trials, title)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    summ.to_csv(out / "summary.csv", index=False)
    head.to_csv(out / "headline.csv", index=False)
    metrics.per_run(runs, trials).to_csv(out / "per_run.csv", index=False)
    atomic_write_text(out / "summary.md", md)
    files = plots.write_plots(runs, summ, out, st.name)
    run_seconds = {s: sum(r.seconds for r in results if r.spec.strategy == s) / max(1, sum(1 for r in results if r.spec.strategy == s))
                   for s in strategies}
    atomic_write_text(out / "bench.json", json.dumps({
        "suite": suite, "strategies": strategies, "seeds": seeds, "first_seed": first_seed, "trials": trials,
        "tasks": names, "workers": workers, "wall_seconds": round(seconds, 1),
        "mean_seconds_per_run": {k: round(v, 2) for k, v in run_seconds.items()},
        "host": platform.node(), "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "provenance": st.provenance,
    }, indent=2, default=str))
    return Comparison(runs, summ, head, md, [out / "runs.csv", out / "summary.csv", out / "summary.md", *files], seconds)


def describe(c: Comparison) -> dict[str, Any]:
    return {"seconds": c.seconds, "files": [str(f) for f in c.files]}
