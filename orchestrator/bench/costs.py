"""Regret against cumulative training cost on a curves table (pure pandas): ``cost.csv`` (the mean regret
over tasks and seeds at every integer cost, in units of one full-budget trial of the task), the cost at
which a strategy reaches a reference's regret after ``at`` trials, and the regret at equal cost.

A run's regret at cost c is its incumbent's after the last trial that had finished by then (trials end
in order); before its first trial ends it is 1 (nothing found yet); after its last, its final regret."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestrator.bench.metrics import ci95

#: the issue's yardstick: full-budget meta-smac after 25 trials
REFERENCE, AT = "meta-smac", 25


def regret_at(runs: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """One row per (strategy, task, seed) and column per cost in ``grid``: the run's regret there."""
    out = []
    for (strategy, task, seed), g in runs.groupby(["strategy", "task", "seed"], sort=False):
        g = g.sort_values("trial")
        idx = np.searchsorted(g["cost"].to_numpy(dtype=float), grid, side="right") - 1
        reg = g["regret"].to_numpy(dtype=float)
        out.append([strategy, task, seed, *np.where(idx >= 0, reg[np.clip(idx, 0, None)], 1.0)])
    return pd.DataFrame(out, columns=["strategy", "task", "seed", *grid])


def cost_table(runs: pd.DataFrame, upto: int) -> pd.DataFrame:
    """``cost.csv``: strategy, cost (1..upto), mean_regret and ci95 over its tasks and seeds."""
    grid = np.arange(1, upto + 1, dtype=float)
    at = regret_at(runs, grid)
    rows = []
    for s, g in at.groupby("strategy", sort=False):
        for c in grid:
            rows.append({"strategy": s, "cost": int(c), "mean_regret": float(g[c].mean()), "ci95": ci95(g[c])})
    return pd.DataFrame(rows)


def acceptance(runs: pd.DataFrame, upto: int, reference: str = REFERENCE, at: int = AT,
               step: float = 0.05) -> pd.DataFrame:
    """Per strategy: the cost (to ``step``) at which its mean regret first reaches ``reference``'s mean regret
    after ``at`` trials, as a fraction of ``reference``'s mean cumulative cost at that trial, and both
    mean regrets at the end of the costs compared (``upto`` full-budget trials: equal cost). Runs shorter
    than ``at`` trials are compared at their last."""
    at = min(at, upto)
    ref = runs[(runs["strategy"] == reference) & (runs["trial"] == at)]
    if ref.empty:
        return pd.DataFrame()
    target, ref_cost = float(ref["regret"].mean()), float(ref["cost"].mean())
    grid = np.round(np.arange(step, upto + step / 2, step), 6)
    means = regret_at(runs, grid).groupby("strategy", sort=False)[list(grid)].mean()
    end = regret_at(runs, np.array([float(upto)]))
    ref_end = end[end["strategy"] == reference][float(upto)]
    rows = []
    for s, m in means.iterrows():
        reached = np.flatnonzero(m.to_numpy() <= target + 1e-12)
        cost = float(grid[reached[0]]) if len(reached) else float("inf")
        e = end[end["strategy"] == s][float(upto)]
        rows.append({"strategy": s, "reference_trials": at, "target_regret": target, "reference_cost": ref_cost, "cost_to_target": cost,
                     "fraction_of_reference_cost": cost / ref_cost if ref_cost > 0 else float("inf"),
                     "regret_at_equal_cost": float(e.mean()), "ci95_at_equal_cost": ci95(e),
                     "reference_regret_at_equal_cost": float(ref_end.mean()), "equal_cost": upto})
    return pd.DataFrame(rows)


def markdown(acc: pd.DataFrame, cost: pd.DataFrame, title: str, reference: str = REFERENCE, at: int = AT) -> str:
    if acc.empty:
        return f"### {title}\n\n(no {reference} run of {at} trials to compare with)\n"
    r0 = acc.iloc[0]
    upto, at = int(r0["equal_cost"]), int(r0["reference_trials"])
    points = [c for c in (1, 2, 3, 5, 8, 10, 15, 25, 50, 100) if c <= upto]
    lines = [f"### {title}", "",
             f"Cost in units of one full-budget trial of the task. {reference} after {at} trials: mean regret "
             f"{r0['target_regret']:.4f} at a mean cost of {r0['reference_cost']:.2f}.", "",
             "| strategy | cost to reach it | fraction of its cost | " + " | ".join(f"@{c}" for c in points)
             + f" | regret at cost {upto} ± 95% |", "|" + "---|" * (3 + len(points) + 1)]
    for _, r in acc.iterrows():
        c = cost[cost["strategy"] == r["strategy"]].set_index("cost")["mean_regret"]
        reach = "not reached" if not np.isfinite(r["cost_to_target"]) else f"{r['cost_to_target']:.2f}"
        frac = "-" if not np.isfinite(r["fraction_of_reference_cost"]) else f"{r['fraction_of_reference_cost']:.2f}"
        cells = [f"{c.get(p, float('nan')):.4f}" for p in points]
        lines.append(f"| {r['strategy']} | {reach} | {frac} | " + " | ".join(cells)
                     + f" | {r['regret_at_equal_cost']:.4f} ± {r['ci95_at_equal_cost']:.4f} |")
    return "\n".join(lines) + "\n"
