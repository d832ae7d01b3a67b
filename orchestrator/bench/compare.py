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

import numpy as np
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
    out.mkdir(parents=True, exist_ok=True)
    done = finished_runs(out, suite, trials)
    reused = {s: done[(s.task, s.strategy, s.seed)] for s in specs if (s.task, s.strategy, s.seed) in done}
    todo = [s for s in specs if s not in reused]
    if progress:
        for s, rows in reused.items():
            progress(RunResult(s, rows, 0.0))
    partial = out / PARTIAL

    def record(r: RunResult) -> None:  # every finished run is kept at once: a killed comparison resumes
        with open(partial, "a") as f:
            f.write(json.dumps({"suite": suite, "trials": trials, "seconds": r.seconds, "rows": r.rows}) + "\n")
        if progress:
            progress(r)

    t0 = time.time()
    results = run_all(todo, workers=workers, progress=record)
    seconds = time.time() - t0
    runs = pd.DataFrame([row for rows in reused.values() for row in rows] + [row for r in results for row in r.rows])
    summ = metrics.summary(runs)
    reference = {t: metrics.expected_best_regret(np.array([st.tasks[t].regret(v) for v in st.tasks[t].objective]))
                 for t in names}
    head = metrics.headline(runs, trials, strategies, reference)
    title = f"{st.name}: {len(names)} tasks x {seeds} seeds, leave-one-task-out"
    md = metrics.markdown(head, trials, title, metrics.RANDOM_DRAWS)
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
    summ.to_csv(out / "summary.csv", index=False)
    head.to_csv(out / "headline.csv", index=False)
    metrics.per_run(runs, trials, reference).to_csv(out / "per_run.csv", index=False)
    atomic_write_text(out / "summary.md", md)
    files = plots.write_plots(runs, summ, out, st.name)
    partial.unlink(missing_ok=True)
    run_seconds = {s: sum(r.seconds for r in results if r.spec.strategy == s) / max(1, sum(1 for r in results if r.spec.strategy == s))
                   for s in strategies}
    atomic_write_text(out / "bench.json", json.dumps({
        "suite": suite, "strategies": strategies, "seeds": seeds, "first_seed": first_seed, "trials": trials,
        "tasks": names, "workers": workers, "wall_seconds": round(seconds, 1), "reused_runs": len(reused),
        "mean_seconds_per_run": {k: round(v, 2) for k, v in run_seconds.items()},
        "host": platform.node(), "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "provenance": st.provenance,
    }, indent=2, default=str))
    return Comparison(runs, summ, head, md, [out / "runs.csv", out / "summary.csv", out / "summary.md", *files], seconds)


PARTIAL = "runs.partial.jsonl"


def finished_runs(out: Path, suite: str, trials: int) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    """Complete runs already under ``out`` for the same suite and trial count, by (task, strategy, seed):
    from an earlier comparison's runs.csv and from the run-by-run log of one that was stopped. Runs are
    deterministic per (task, strategy, seed), so a rerun reuses them instead of computing them again."""
    done: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    info = out / "bench.json"
    if (out / "runs.csv").exists() and info.exists():
        try:
            meta = json.loads(info.read_text())
            old = pd.read_csv(out / "runs.csv") if meta.get("suite") == suite and meta.get("trials") == trials else None
        except (ValueError, OSError):
            old = None  # an unreadable earlier comparison is simply computed again
        if old is not None:
            for (task, strategy, seed), g in old.groupby(["task", "strategy", "seed"], sort=False):
                if len(g) == trials:
                    done[(str(task), str(strategy), int(seed))] = g.sort_values("trial").to_dict("records")
    if (out / PARTIAL).exists():
        for line in (out / PARTIAL).read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue  # the line a killed run was writing
            if r.get("suite") == suite and r.get("trials") == trials and len(r.get("rows", [])) == trials:
                first = r["rows"][0]
                done[(str(first["task"]), str(first["strategy"]), int(first["seed"]))] = r["rows"]
    return done


def describe(c: Comparison) -> dict[str, Any]:
    return {"seconds": c.seconds, "files": [str(f) for f in c.files]}
