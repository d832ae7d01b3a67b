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


def _paired(runs: pd.DataFrame, a: str, b: str, budget: int) -> pd.DataFrame:
    """Regret of strategies ``a`` and ``b`` after ``budget`` trials, side by side per suite, task and seed."""
    at = runs[runs["trial"] == budget]
    x = at[at["strategy"] == a].set_index(["suite", "task", "seed"])["regret"]
    y = at[at["strategy"] == b].set_index(["suite", "task", "seed"])["regret"]
    both = pd.concat([x.rename("a"), y.rename("b")], axis=1).dropna()
    return both.reset_index()


def verdicts(runs: pd.DataFrame, default: str, references: list[str], trials: int) -> pd.DataFrame:
    """Per suite and budget: ``default``'s mean regret against the best reference's (lowest mean); ok when
    it is at or below it, or above it by less than the 95% interval of the paired difference (a tie)."""
    out = []
    for suite in runs["suite"].unique():
        fam = runs[runs["suite"] == suite]
        for b in [b for b in BUDGETS if b <= trials]:
            best = None
            for ref in references:
                p = _paired(fam, default, ref, b)
                if len(p) and (best is None or p["b"].mean() < best[1]["b"].mean()):
                    best = (ref, p)
            if best is None:
                continue
            ref, p = best
            d = p["a"] - p["b"]
            out.append({"suite": suite, "budget": b, "mean": float(p["a"].mean()), "reference": ref,
                        "ref_mean": float(p["b"].mean()), "diff": float(d.mean()), "ci": ci95(d),
                        "ok": bool(d.mean() <= 0 or d.mean() <= ci95(d))})
    return pd.DataFrame(out)


def per_task_vs(runs: pd.DataFrame, a: str, b: str, budget: int) -> pd.DataFrame:
    """Per suite and task: mean regret of ``a`` and ``b`` at ``budget`` and whether ``a`` is worse beyond
    the 95% interval of the paired difference over seeds (negative transfer shows up here)."""
    p = _paired(runs, a, b, budget)
    out = []
    for (suite, task), g in p.groupby(["suite", "task"], sort=False):
        d = g["a"] - g["b"]
        out.append({"suite": suite, "task": task, "mean_a": float(g["a"].mean()), "mean_b": float(g["b"].mean()),
                    "diff": float(d.mean()), "ci": ci95(d), "worse": bool(d.mean() - ci95(d) > 0)})
    return pd.DataFrame(out)


def pooled_vs_single(runs: pd.DataFrame, strategy: str, trials: int) -> pd.DataFrame:
    """Per family and budget: ``strategy``'s mean regret with the pooled meta-dataset (suite "pooled", tasks
    "family/task") against the family alone, and whether the pooled mean lies in the family's 95% interval."""
    pooled = runs[(runs["suite"] == "pooled") & (runs["strategy"] == strategy)].copy()
    if pooled.empty:
        return pd.DataFrame()
    pooled["family"] = pooled["task"].str.split("/").str[0]
    pooled["task"] = pooled["task"].str.split("/", n=1).str[1]
    out = []
    for fam, g in pooled.groupby("family", sort=False):
        single = runs[(runs["suite"] == fam) & (runs["strategy"] == strategy)]
        if single.empty:
            continue
        for b in [b for b in BUDGETS if b <= trials]:
            s = single[single["trial"] == b]["regret"]
            q = g[g["trial"] == b]["regret"]
            out.append({"family": fam, "budget": b, "pooled": float(q.mean()), "single": float(s.mean()),
                        "ci": ci95(s), "within": bool(abs(q.mean() - s.mean()) <= ci95(s) + 1e-12)})
    return pd.DataFrame(out)
