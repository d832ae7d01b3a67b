"""Statistics over benchmark runs (pure pandas): regret at budgets, trials to random search's
100-trial quality, trials to the table optimum, average rank, compute cost to a target regret;
means with 95% confidence intervals over tasks and seeds.

Random search's 100-trial quality on a table is exact: the expected regret of the best of 100 rows
drawn without replacement (``expected_best_regret``), so runs shorter than 100 trials are measured
against it too; without the table, random's own mean regret after min(100, trials) trials."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BUDGETS = (1, 5, 10, 25, 50, 100)
OPTIMUM = 1e-12
RANDOM_DRAWS = 100


def ci95(x: pd.Series | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(1.96 * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def add_ranks(runs: pd.DataFrame) -> pd.DataFrame:
    """Rank of each strategy's incumbent among all strategies, per task, seed and trial (ties averaged)."""
    runs = runs.copy()
    runs["rank"] = runs.groupby(["task", "seed", "trial"])["regret"].rank(method="average")
    return runs


def random_reference(runs: pd.DataFrame, at: int) -> dict[str, float]:
    """Random search's mean regret per task after ``at`` trials (the bar others have to reach)."""
    rnd = runs[(runs["strategy"] == "random") & (runs["trial"] == at)]
    return rnd.groupby("task")["regret"].mean().to_dict()


def expected_best_regret(regrets: np.ndarray, k: int = RANDOM_DRAWS) -> float:
    """E[min of k of the table's rows drawn without replacement] from the order statistics: the i-th
    smallest is the best drawn with probability C(n-1-i, k-1) / C(n, k)."""
    r = np.sort(np.asarray(regrets, dtype=float))
    n = len(r)
    k = min(k, n)
    i = np.arange(1, n - k + 1)
    p = np.concatenate([[k / n], k / n * np.cumprod((n - i - k + 1) / (n - i))])
    return float(p @ r[: len(p)])


def per_run(runs: pd.DataFrame, trials: int, reference: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per (strategy, task, seed) with the run-level statistics; ``reference``: each task's
    target regret (random search's 100-trial quality), else random's own runs at min(100, trials)."""
    ref = reference if reference is not None else random_reference(runs, min(100, trials))
    out = []
    for (strategy, task, seed), g in runs.groupby(["strategy", "task", "seed"], sort=False):
        g = g.sort_values("trial")
        reg, cost, trial = g["regret"].to_numpy(), g["cost"].to_numpy(), g["trial"].to_numpy()
        row: dict[str, Any] = {"strategy": strategy, "task": task, "seed": seed}
        for b in BUDGETS:
            if b <= trials:
                row[f"regret@{b}"] = float(reg[min(b, len(reg)) - 1])
        target = ref.get(task)
        hit = np.nonzero(reg <= target + 1e-15)[0] if target is not None else np.array([])
        row["trials_to_random100"] = int(trial[hit[0]]) if len(hit) else trials + 1
        row["cost_to_random100"] = float(cost[hit[0]]) if len(hit) else float("nan")
        opt = np.nonzero(reg <= OPTIMUM)[0]
        row["trials_to_optimum"] = int(trial[opt[0]]) if len(opt) else trials + 1
        row["final_cost"] = float(cost[-1])
        out.append(row)
    return pd.DataFrame(out)


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and trial count: mean regret, its 95% CI and the mean rank."""
    ranked = add_ranks(runs)
    g = ranked.groupby(["strategy", "trial"])
    out = pd.DataFrame({
        "mean_regret": g["regret"].mean(),
        "ci95": g["regret"].apply(ci95),
        "median_regret": g["regret"].median(),
        "mean_rank": g["rank"].mean(),
        "mean_cost": g["cost"].mean(),
        "runs": g["regret"].size(),
    }).reset_index().rename(columns={"trial": "trials"})
    return out


def headline(runs: pd.DataFrame, trials: int, strategies: list[str],
             reference: dict[str, float] | None = None) -> pd.DataFrame:
    """The table people read: regret at each budget (mean ± CI), ranks and trials-to-targets."""
    pr = per_run(runs, trials, reference)
    ranked = add_ranks(runs)
    rows = []
    for s in strategies:
        p = pr[pr["strategy"] == s]
        if p.empty:
            continue
        row: dict[str, Any] = {"strategy": s}
        for b in BUDGETS:
            if f"regret@{b}" in p:
                row[f"regret@{b}"] = float(p[f"regret@{b}"].mean())
                row[f"ci95@{b}"] = ci95(p[f"regret@{b}"])
        for b in rank_points(trials):
            row[f"rank@{b}"] = float(ranked[(ranked["strategy"] == s) & (ranked["trial"] == b)]["rank"].mean())
        row["median_trials_to_random100"] = float(p["trials_to_random100"].median())
        row["reached_random100"] = float((p["trials_to_random100"] <= trials).mean())
        row["hit_optimum"] = float((p["trials_to_optimum"] <= trials).mean())
        row["median_trials_to_optimum"] = float(p["trials_to_optimum"].median())
        row["median_cost_to_random100"] = float(p["cost_to_random100"].median())
        row["mean_final_cost"] = float(p["final_cost"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def rank_points(trials: int) -> list[int]:
    return sorted({min(10, trials), min(100, trials)})


def markdown(head: pd.DataFrame, trials: int, title: str, ref: int | None = None) -> str:
    """``ref``: the random-search trial count the targets are at (100 with an exact reference)."""
    budgets = [b for b in BUDGETS if f"regret@{b}" in head.columns]
    ref = ref or min(100, trials)
    cols = [f"regret@{b}" for b in budgets] + [f"rank@{b}" for b in rank_points(trials)]
    lines = [f"### {title}", "",
             "| strategy | " + " | ".join(cols) + f" | trials to random@{ref} (median) | hit optimum | "
             f"cost to random@{ref} (median s) |",
             "|" + "---|" * (len(cols) + 4)]
    for _, r in head.iterrows():
        cells = [f"{r[f'regret@{b}']:.4f} ± {r[f'ci95@{b}']:.4f}" for b in budgets]
        cells += [f"{r[f'rank@{b}']:.2f}" for b in rank_points(trials)]
        ttr = r["median_trials_to_random100"]
        ttr_s = f">{trials}" if ttr > trials else f"{ttr:.0f}"
        cost = r["median_cost_to_random100"]
        cells += [ttr_s, f"{r['hit_optimum']:.0%}", "-" if not np.isfinite(cost) else f"{cost:,.1f}"]
        lines.append(f"| {r['strategy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
