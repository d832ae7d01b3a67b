"""`orch bench run`: compare strategies on one suite or a panel of them and write runs.csv, summary.csv,
a markdown table and PNG plots under --out (with several suites: one folder per family, and panel.md
with each family's table, the pooled rank and the verdicts against the reference strategies)."""

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

from orchestrator.bench import costs, metrics, plots
from orchestrator.bench.runner import RunResult, RunSpec, run_all, suite_cached
from orchestrator.bench.suites import POOLED, pooled_key, suite_names
from orchestrator.errors import ConfigError
from orchestrator.store.atomic import atomic_write_text
from orchestrator.strategies import check_strategy

#: the strategies every comparison holds the default one against, when they ran
REFERENCES = ("optuna-gp", "optuna-tpe", "transfer-tpe")
DEFAULT = "auto"


@dataclass
class Comparison:
    runs: pd.DataFrame
    summary: pd.DataFrame
    headline: pd.DataFrame
    markdown: str
    files: list[Path]
    seconds: float


def compare(suite: str | list[str], strategies: list[str], seeds: int, trials: int, out: Path, workers: int = 2,
            tasks: list[str] | None = None, progress: Callable[[RunResult], None] | None = None,
            first_seed: int = 0) -> Comparison:
    """Every (suite, task, strategy, seed) run, leave-one-task-out; ``suite``: a name, a comma-separated
    list or ``panel`` (``pooled`` pools the other suites named into one meta-dataset)."""
    names, keys, specs = plan_runs(suite, strategies, seeds, trials, tasks, first_seed)
    out.mkdir(parents=True, exist_ok=True)
    done = finished_runs(out, trials)
    reused = {s: done[_key(s)] for s in specs if _key(s) in done}
    # in the pooled suite a strategy that learns nothing runs exactly as in its own family: copied, not rerun
    copies = {s: _family_spec(s) for s in specs
              if s not in reused and _copies_family(s) and _family_spec(s) in set(specs)}
    todo = [s for s in specs if s not in reused and s not in copies]
    if progress:
        for s, rows in reused.items():
            progress(RunResult(s, rows, 0.0))
    partial = out / PARTIAL

    def record(r: RunResult) -> None:  # every finished run is kept at once: a killed comparison resumes
        with open(partial, "a") as f:
            f.write(json.dumps({"suite": r.spec.suite, "trials": trials, "seconds": r.seconds, "rows": r.rows}) + "\n")
        if progress:
            progress(r)

    t0 = time.time()
    results = run_all(todo, workers=workers, progress=record)
    finished = {**{_key(s): rows for s, rows in reused.items()}, **{_key(r.spec): r.rows for r in results}}
    for s, family in copies.items():
        rows = [{**row, "suite": POOLED, "task": s.task} for row in finished[_key(family)]]
        reused[s] = rows
        if progress:
            progress(RunResult(s, rows, 0.0))
    seconds = time.time() - t0
    runs = pd.DataFrame([row for rows in reused.values() for row in rows] + [row for r in results for row in r.rows])
    order = {(s.suite, s.task, s.strategy, s.seed): i for i, s in enumerate(specs)}
    runs = runs.assign(_o=[order.get((_suite_key(keys, r.suite), r.task, r.strategy, r.seed), 0)
                           for r in runs.itertuples()]).sort_values(["_o", "trial"], kind="stable").drop(columns="_o")
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
    files = [out / "runs.csv"]
    family_heads: dict[str, pd.DataFrame] = {}
    mds = []
    summ = pd.DataFrame()
    for key in keys:
        st = suite_cached(key)
        fam = runs[runs["suite"] == st.name]
        where = out if len(keys) == 1 else out / st.name
        where.mkdir(parents=True, exist_ok=True)
        summ, head, md, written = _family(fam, st, strategies, trials, where, seeds)
        family_heads[st.name] = head
        mds.append(md)
        files += written
    if len(keys) > 1:
        panel_md = panel_markdown(runs, strategies, trials, family_heads)
        atomic_write_text(out / "panel.md", panel_md)
        files.append(out / "panel.md")
        files.append(plots.panel_rank(runs, out / "panel_rank.png"))
        md = "\n".join(mds) + "\n" + panel_md
    else:
        md = mds[0]
    partial.unlink(missing_ok=True)
    run_seconds = {s: float(np.mean([r.seconds for r in results if r.spec.strategy == s] or [0.0])) for s in strategies}
    atomic_write_text(out / "bench.json", json.dumps({
        "suites": names, "strategies": strategies, "seeds": seeds, "first_seed": first_seed, "trials": trials,
        "tasks": tasks, "workers": workers, "wall_seconds": round(seconds, 1), "reused_runs": len(reused),
        "mean_seconds_per_run": {k: round(v, 2) for k, v in run_seconds.items()},
        "host": platform.node(), "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "provenance": {suite_cached(k).name: suite_cached(k).provenance for k in keys},
    }, indent=2, default=str))
    head = pd.concat(family_heads.values(), keys=list(family_heads), names=["suite"]).reset_index(level=0)
    return Comparison(runs, summ, head, md, files, seconds)


def plan_runs(suite: str | list[str], strategies: list[str], seeds: int, trials: int, tasks: list[str] | None = None,
              first_seed: int = 0) -> tuple[list[str], list[str], list[RunSpec]]:
    """The suites named (``panel`` expanded), how runs name them, and every run of the comparison."""
    for s in strategies:
        check_strategy(s)
    if seeds < 1 or trials < 1:
        raise ConfigError("--seeds and --trials must be at least 1")
    names = suite_names(suite) if isinstance(suite, str) else list(suite)
    members = [n for n in names if n != POOLED]
    keys = [pooled_key(members) if n == POOLED else n for n in names]
    specs = []
    for key in keys:
        chosen = _tasks(suite_cached(key).tasks, tasks, several=len(keys) > 1)
        # task by task, every strategy on each seed: a comparison stopped midway has every strategy on the
        # same tasks and seeds (and a task's leave-one-out meta-dataset is derived once per worker)
        specs += [RunSpec(key, t, s, seed, trials) for t in chosen for seed in range(first_seed, first_seed + seeds)
                  for s in strategies]
    return names, keys, specs


def _family(runs: pd.DataFrame, st: Any, strategies: list[str], trials: int, out: Path, seeds: int
            ) -> tuple[pd.DataFrame, pd.DataFrame, str, list[Path]]:
    """One family's tables and plots under ``out``."""
    names = sorted(runs["task"].unique())
    summ = metrics.summary(runs)
    reference = {t: metrics.expected_best_regret(np.array([st.tasks[t].regret(v) for v in st.tasks[t].objective]))
                 for t in names}
    head = metrics.headline(runs, trials, strategies, reference)
    title = f"{st.name}: {len(names)} tasks x {seeds} seeds, leave-one-task-out"
    md = metrics.markdown(head, trials, title, metrics.RANDOM_DRAWS)
    summ.to_csv(out / "summary.csv", index=False)
    head.to_csv(out / "headline.csv", index=False)
    metrics.per_run(runs, trials, reference).to_csv(out / "per_run.csv", index=False)
    files = plots.write_plots(runs, summ, out, st.name)
    if any(t.curves is not None for t in st.tasks.values()):  # a curves table: regret against training cost
        cost = costs.cost_table(runs, trials)
        acc = costs.acceptance(runs, trials)
        atomic_write_text(out / "cost.csv", cost.to_csv(index=False))
        atomic_write_text(out / "acceptance.csv", acc.to_csv(index=False))
        md += "\n" + costs.markdown(acc, cost, f"{st.name}: regret against cumulative training cost")
        ref = acc.iloc[0] if len(acc) else None
        files += [out / "cost.csv", out / "acceptance.csv",
                  plots.regret_vs_cost_units(cost, out / "regret_vs_cost_units.png", title,
                                             None if ref is None else (float(ref["reference_cost"]),
                                                                       float(ref["target_regret"])))]
    atomic_write_text(out / "summary.md", md)
    return summ, head, md, [out / "summary.csv", out / "summary.md", *files]


def panel_markdown(runs: pd.DataFrame, strategies: list[str], trials: int, heads: dict[str, pd.DataFrame]) -> str:
    """The pooled rank over every family, and where the default strategy and references ran, the verdicts."""
    lines = ["### Panel: mean rank over every family's tasks and seeds", "",
             "| strategy | " + " | ".join(f"rank@{b}" for b in metrics.BUDGETS if b <= trials) + " |",
             "|" + "---|" * (1 + sum(b <= trials for b in metrics.BUDGETS))]
    ranked = metrics.add_ranks(runs)
    for s in strategies:
        r = ranked[ranked["strategy"] == s]
        cells = [f"{r[r['trial'] == b]['rank'].mean():.2f}" for b in metrics.BUDGETS if b <= trials]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    refs = [s for s in REFERENCES if s in strategies]
    if DEFAULT in strategies and refs:
        v = metrics.verdicts(runs, DEFAULT, refs, trials)
        lines += ["", f"### {DEFAULT} against the best reference ({', '.join(refs)}) at each budget", "",
                  "Paired by task and seed; 'ok' when the mean regret is at or below the best reference's, or above it "
                  "by less than the 95% interval of the paired difference (a tie).", "",
                  "| family | " + " | ".join(f"@{b}" for b in metrics.BUDGETS if b <= trials) + " |",
                  "|" + "---|" * (1 + sum(b <= trials for b in metrics.BUDGETS))]
        for fam, g in v.groupby("suite", sort=False):
            cells = [_verdict_cell(row) for _, row in g.sort_values("budget").iterrows()]
            lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    if DEFAULT in strategies and "smac" in strategies:
        t = metrics.per_task_vs(runs, DEFAULT, "smac", min(100, trials))
        bad = t[t["worse"]]
        lines += ["", f"### {DEFAULT} against plain smac per task at {min(100, trials)} trials", "",
                  f"{len(t) - len(bad)} of {len(t)} tasks not worse than smac beyond the 95% interval"
                  + (":" if len(bad) else "."), ""]
        if len(bad):
            lines += ["| family | task | auto | smac | difference ± 95% |", "|---|---|---|---|---|"]
            for _, r in bad.iterrows():
                lines.append(f"| {r['suite']} | {r['task']} | {r['mean_a']:.4f} | {r['mean_b']:.4f} | "
                             f"{r['diff']:+.4f} ± {r['ci']:.4f} |")
    if DEFAULT in strategies and POOLED in set(runs["suite"]):
        p = metrics.pooled_vs_single(runs, DEFAULT, trials)
        if len(p):
            lines += ["", f"### {DEFAULT} in the pooled meta-dataset against each family alone", "",
                      "A task whose compatible past tasks in the pool are its own family's runs exactly as alone "
                      "(checked, then copied); the others ran with the pool.", "",
                      "| family | " + " | ".join(f"@{b}" for b in metrics.BUDGETS if b <= trials) + " |",
                      "|" + "---|" * (1 + sum(b <= trials for b in metrics.BUDGETS))]
            for fam, g in p.groupby("family", sort=False):
                cells = [f"{r['pooled']:.4f} vs {r['single']:.4f} ({'ok' if r['within'] else 'OUTSIDE'})"
                         for _, r in g.sort_values("budget").iterrows()]
                lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _verdict_cell(row: pd.Series) -> str:
    mark = "ok" if row["ok"] else "**worse**"
    return f"{row['mean']:.4f} vs {row['ref_mean']:.4f} {row['reference']} ({mark})"


def _tasks(available: dict[str, Any], wanted: list[str] | None, several: bool) -> list[str]:
    if not wanted:
        return sorted(available)
    chosen = [t for t in sorted(available) if t in wanted or t.split("/")[-1] in wanted]
    unknown = [t for t in wanted if not several and t not in available]
    if unknown or not chosen:
        raise ConfigError(f"--tasks: unknown task(s) {', '.join(unknown or wanted)} "
                          f"(suite has {', '.join(sorted(available))})")
    return chosen


def _copies_family(s: RunSpec) -> bool:
    """A pooled run that runs exactly as in its own family: a strategy that learns nothing, or one whose
    task finds in the pooled meta-dataset no compatible past task but its own family's (another family's
    studies, with another space, are not sources: metalearning.related)."""
    from orchestrator.strategies import AUTO, STRATEGIES

    if not s.suite.startswith(f"{POOLED}:"):
        return False
    if s.strategy != AUTO and not STRATEGIES[s.strategy].uses_meta:
        return True
    return _same_sources(s.suite, s.task)


_SOURCES: dict[tuple[str, str], bool] = {}


def _same_sources(pooled_key: str, task: str) -> bool:
    """Does ``task`` of the pooled suite have the same compatible past tasks as in its family alone?"""
    from orchestrator.metalearning.related import relevant

    if (pooled_key, task) not in _SOURCES:
        family, name = task.split("/", 1)
        pooled = suite_cached(pooled_key)
        space, job = pooled.space_of(task), pooled.job_of(task)
        mine = set(relevant(pooled.meta(task), space, job).df["dataset"].unique())
        same = False
        if family in pooled_key[len(POOLED) + 1:].split("+"):
            theirs = relevant(suite_cached(family).meta(name), space, job).df["dataset"].unique()
            same = mine == {f"{family}/{t}" for t in theirs}
        _SOURCES[(pooled_key, task)] = same
    return _SOURCES[(pooled_key, task)]


def _family_spec(s: RunSpec) -> RunSpec:
    family, task = s.task.split("/", 1)
    return RunSpec(family, task, s.strategy, s.seed, s.trials)


def _key(s: RunSpec) -> tuple[str, str, str, int]:
    return (suite_cached(s.suite).name, s.task, s.strategy, s.seed)


def _suite_key(keys: list[str], name: str) -> str:
    return next((k for k in keys if suite_cached(k).name == name), name)


PARTIAL = "runs.partial.jsonl"


def finished_runs(out: Path, trials: int) -> dict[tuple[str, str, str, int], list[dict[str, Any]]]:
    """Complete runs already under ``out`` for the same trial count, by (suite, task, strategy, seed): from
    an earlier comparison's runs.csv and from the run-by-run log of one that was stopped. Runs are
    deterministic per (suite, task, strategy, seed), so a rerun reuses them instead of computing them again."""
    done: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    info = out / "bench.json"
    if (out / "runs.csv").exists() and info.exists():
        try:
            meta = json.loads(info.read_text())
            # task names as text: LCBench's are numbers, and a reused run must match a new one's key
            old = (pd.read_csv(out / "runs.csv", dtype={"suite": str, "task": str, "strategy": str})
                   if meta.get("trials") == trials else None)
        except (ValueError, OSError):
            old = None  # an unreadable earlier comparison is simply computed again
        if old is not None:
            for (suite, task, strategy, seed), g in old.groupby(["suite", "task", "strategy", "seed"], sort=False):
                if len(g) == trials or "epochs" in g.columns:  # a curves run ends at a cost, not a trial count
                    done[(str(suite), str(task), str(strategy), int(seed))] = g.sort_values("trial").to_dict("records")
    if (out / PARTIAL).exists():
        for line in (out / PARTIAL).read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue  # the line a killed run was writing
            if r.get("trials") == trials and r.get("rows") and (len(r["rows"]) == trials or "epochs" in r["rows"][0]):
                first = r["rows"][0]
                done[(str(first["suite"]), str(first["task"]), str(first["strategy"]), int(first["seed"]))] = r["rows"]
    return done


def describe(c: Comparison) -> dict[str, Any]:
    return {"seconds": c.seconds, "files": [str(f) for f in c.files]}
