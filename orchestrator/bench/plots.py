"""Benchmark plots: regret vs trials (mean with 95% bands), average rank vs trials, and regret vs
cumulative train time. Matplotlib with the Agg backend; PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def regret_vs_trials(summary: pd.DataFrame, path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    _regret_bands(ax, summary, "trials", alpha=0.18)
    ax.set_yscale("log")
    return _save(plt, fig, ax, path, title, "trials", "normalised regret (mean, 95% CI)")


def _regret_bands(ax, frame: pd.DataFrame, x: str, alpha: float) -> None:  # type: ignore[no-untyped-def]
    """Each strategy's mean regret against ``x`` with its 95% band (floored at 1e-5, for a log axis)."""
    for s, g in frame.groupby("strategy", sort=False):
        g = g.sort_values(x)
        ax.plot(g[x], g["mean_regret"].clip(lower=1e-5), label=s, lw=1.8)
        ax.fill_between(g[x], np.clip(g["mean_regret"] - g["ci95"], 1e-5, None),
                        (g["mean_regret"] + g["ci95"]).clip(lower=1e-5), alpha=alpha)


def _save(plt, fig, ax, path: Path, title: str, xlabel: str, ylabel: str,  # type: ignore[no-untyped-def]
          which: str = "both") -> Path:
    """Labels, title, grid and legend of a one-axis plot, written to ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which=which, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def rank_vs_trials(summary: pd.DataFrame, path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s, g in summary.groupby("strategy", sort=False):
        g = g.sort_values("trials")
        ax.plot(g["trials"], g["mean_rank"], label=s, lw=1.8)
    return _save(plt, fig, ax, path, title, "trials", "average rank (lower is better)", which="major")


def regret_vs_cost(runs: pd.DataFrame, path: Path, title: str, points: int = 200) -> Path:
    """Mean regret over runs at each cumulative train time (a run not yet started counts as regret 1)."""
    plt = _plt()
    pos = runs["cost"][runs["cost"] > 0]
    lo, hi = (float(pos.min()), float(runs["cost"].max())) if len(pos) else (1e-3, 1.0)
    grid = np.logspace(np.log10(max(lo, 1e-6)), np.log10(max(hi, lo * 1.01)), points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s, g in runs.groupby("strategy", sort=False):
        curves = []
        for _, r in g.groupby(["task", "seed"]):
            r = r.sort_values("trial")
            idx = np.searchsorted(r["cost"].to_numpy(), grid, side="right") - 1
            reg = r["regret"].to_numpy()
            curves.append(np.where(idx >= 0, reg[np.clip(idx, 0, None)], 1.0))
        ax.plot(grid, np.clip(np.mean(curves, axis=0), 1e-5, None), label=s, lw=1.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return _save(plt, fig, ax, path, title, "cumulative train time of the trials (s)", "normalised regret (mean)")


def regret_vs_cost_units(cost: pd.DataFrame, path: Path, title: str,
                         reference: tuple[float, float] | None = None) -> Path:
    """cost.csv as a plot: mean regret (95% band) against cumulative training cost in full-budget trials;
    ``reference``: (cost, regret) of meta-smac after 25 trials, marked with its third of the cost."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    _regret_bands(ax, cost, "cost", alpha=0.15)
    if reference is not None:
        c, r = reference
        ax.axhline(r, color="grey", ls="--", lw=1)
        ax.axvline(c / 3, color="grey", ls=":", lw=1)
        ax.annotate("meta-smac@25 regret", (float(cost["cost"].max()), r), textcoords="offset points",
                    xytext=(-2, 3), fontsize=8, color="grey", ha="right")  # right: the legend sits lower left
        ax.annotate("1/3 of its cost", (c / 3, min(1, ax.get_ylim()[1])), fontsize=8,
                    color="grey", textcoords="offset points", xytext=(3, -12))
    ax.set_yscale("log")
    return _save(plt, fig, ax, path, title, "cumulative training cost (full-budget trials of the task)",
                 "normalised regret (mean, 95% CI)")


def write_plots(runs: pd.DataFrame, summary: pd.DataFrame, out: Path, title: str) -> list[Path]:
    return [regret_vs_trials(summary, out / "regret_vs_trials.png", f"{title}: regret"),
            rank_vs_trials(summary, out / "rank_vs_trials.png", f"{title}: average rank"),
            regret_vs_cost(runs, out / "regret_vs_cost.png", f"{title}: regret vs compute")]


def calibration_plot(cal: pd.DataFrame, path: Path) -> Path:
    """Per model: 90%-interval coverage and median NLL against the training-set size (mean over tasks
    and repetitions, bars from the lowest to the highest task mean), the 80-95% target band shaded.
    The median NLL, because a few held-out points with a tiny predicted variance (the random forest's)
    make the mean NLL astronomically large."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    per_task = cal.groupby(["model", "n", "task"])[["coverage90", "nll_median"]].mean().reset_index()
    for i, (model, g) in enumerate(per_task.groupby("model", sort=False)):
        for ax, col in ((a1, "coverage90"), (a2, "nll_median")):
            s = g.groupby("n")[col]
            x = np.array(sorted(g["n"].unique()), float) * (1 + 0.04 * (i - 1))  # side by side on the log axis
            mean, lo, hi = s.mean().to_numpy(), s.min().to_numpy(), s.max().to_numpy()
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=model)
    a1.axhspan(0.8, 0.95, color="green", alpha=0.1, label="target 80-95%")
    a1.axhline(0.9, color="grey", lw=0.8, ls="--")
    a1.set_ylabel("fraction inside the 90% interval")
    a2.set_ylabel("negative log-likelihood (median over points)")
    ns = sorted(cal["n"].unique())
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("training configurations")
        ax.grid(True, alpha=0.3)
    a1.legend(fontsize=8)
    fig.suptitle("surrogate calibration on held-out configurations (hpobench-nn)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def panel_rank(runs: pd.DataFrame, path: Path) -> Path:
    """Mean rank vs trials over every family's tasks and seeds (the panel's pooled rank), and per family."""
    from orchestrator.bench.metrics import add_ranks

    plt = _plt()
    ranked = add_ranks(runs)
    fams = list(dict.fromkeys(runs["suite"]))
    fig, axes = plt.subplots(1, len(fams) + 1, figsize=(4 * (len(fams) + 1), 3.8), sharey=True)
    for ax, (title, data) in zip(axes, [("all families", ranked)] + [(f, ranked[ranked["suite"] == f]) for f in fams]):
        for s, g in data.groupby("strategy", sort=False):
            m = g.groupby("trial")["rank"].mean()
            ax.plot(m.index, m.to_numpy(), label=s, lw=1.6)
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.set_xlabel("trials")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("mean rank (1 = best)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
