"""`orch report` and `orch compare`: PNG plots and one self-contained HTML page per study.

Plots: best objective vs trials and vs compute (GPU-hours, or wall-clock hours on CPU-only runs),
each hyperparameter against the objective, parallel coordinates of the top trials, and
hyperparameter importance (permutation importance of a random forest fitted to the trials).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.analysis import StudyResults, comparison_rows
from orchestrator.store.atomic import atomic_write_text


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _space(r: StudyResults) -> Any:
    from orchestrator.space import space_from_json

    try:
        return space_from_json(r.paths.space.read_text(), source=str(r.paths.space))
    except Exception:
        return None


def _compute_axis(r: StudyResults) -> tuple[np.ndarray, str]:
    gpu = r.trials["gpu_hours"].to_numpy(dtype=float) if "gpu_hours" in r.trials else np.zeros(len(r.trials))
    if gpu.sum() > 0:
        return np.cumsum(gpu), "cumulative GPU-hours"
    wall = r.trials["wall_seconds"].to_numpy(dtype=float) if "wall_seconds" in r.trials else np.zeros(len(r.trials))
    return np.cumsum(wall) / 3600, "cumulative wall-clock hours of the trials (no GPU used)"


def plot_progress(r: StudyResults, path: Path) -> Path:
    plt = _plt()
    t = r.trials
    x = np.arange(1, len(t) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    ok = t["status"] == "SUCCESS"
    a.scatter(x[ok], t["objective"][ok], s=14, alpha=0.6, label="trial")
    if (~ok).any():
        a.scatter(x[~ok], np.full((~ok).sum(), np.nanmin(t["objective"]) if ok.any() else 0), marker="x", c="red",
                  s=18, label="failed")
    a.step(x, t["incumbent"], where="post", c="black", lw=1.8, label="best so far")
    a.set_xlabel("trial")
    a.set_ylabel(r.objective)
    a.set_title(f"{r.name}: {r.spec.task.direction} {r.objective}")
    a.legend()
    a.grid(alpha=0.3)
    cx, label = _compute_axis(r)
    b.step(cx, t["incumbent"], where="post", c="black", lw=1.8)
    b.set_xlabel(label)
    b.set_ylabel(f"best {r.objective}")
    b.set_title("best so far vs compute")
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_hyperparameters(r: StudyResults, path: Path) -> Path | None:
    hps = r.hyperparameters
    ok = r.ok
    if not hps or ok.empty:
        return None
    plt = _plt()
    space = _space(r)
    cols = min(3, len(hps))
    rows = math.ceil(len(hps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, h in zip(axes.flat, hps):
        v = ok[f"hp:{h}"]
        num = pd.to_numeric(v, errors="coerce")
        if num.notna().all() and len(num):
            ax.scatter(num, ok["objective"], s=14, alpha=0.7)
            hp = space[h] if space is not None and h in space else None
            if getattr(hp, "log", False):
                ax.set_xscale("log")
        else:
            cats = sorted(v.dropna().astype(str).unique())
            pos = v.astype(str).map({c: i for i, c in enumerate(cats)})
            ax.scatter(pos + np.random.default_rng(0).uniform(-0.15, 0.15, len(pos)), ok["objective"], s=14, alpha=0.7)
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(h)
        ax.set_ylabel(r.objective)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(hps):]:
        ax.axis("off")
    fig.suptitle(f"{r.name}: each hyperparameter against {r.objective}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _encoded(r: StudyResults, frame: pd.DataFrame) -> np.ndarray | None:
    space = _space(r)
    if space is None:
        return None
    from orchestrator.metalearning.encode import encode_frame

    return encode_frame(space, frame)


def plot_parallel(r: StudyResults, path: Path, top: int = 20) -> Path | None:
    ok = r.ok
    x = _encoded(r, ok)
    if x is None or len(ok) < 2:
        return None
    plt = _plt()
    order = np.argsort(ok["objective"].to_numpy() * (1 if r.minimize else -1))
    sel = order[: max(2, min(top, len(ok)))]
    vals = ok["objective"].to_numpy()[sel]
    cmap = plt.get_cmap("viridis_r" if r.minimize else "viridis")
    norm = plt.Normalize(vals.min(), vals.max() if vals.max() > vals.min() else vals.min() + 1)
    names = list(_space(r).keys())
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4.5))
    for i, v in zip(sel[::-1], vals[::-1]):
        ax.plot(range(len(names)), x[i], c=cmap(norm(v)), alpha=0.85, lw=1.5)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("position in the range (0 = low, 1 = high; -1 = inactive)")
    ax.set_title(f"{r.name}: the top {len(sel)} trials")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=ax, label=r.objective)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance(r: StudyResults) -> pd.Series | None:
    """Permutation importance of each hyperparameter for a random forest fitted to the trials."""
    ok = r.ok
    x = _encoded(r, ok)
    if x is None or len(ok) < 8:
        return None
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    y = ok["objective"].to_numpy(dtype=float)
    rf = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0).fit(x, y)
    imp = permutation_importance(rf, x, y, n_repeats=10, random_state=0)
    names = list(_space(r).keys())
    return pd.Series(np.clip(imp.importances_mean, 0, None), index=names).sort_values(ascending=False)


def plot_importance(r: StudyResults, path: Path) -> Path | None:
    imp = importance(r)
    if imp is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(imp) + 1.5))
    ax.barh(imp.index[::-1], imp.to_numpy()[::-1])
    ax.set_xlabel(f"permutation importance (drop in R² of a forest predicting {r.objective})")
    ax.set_title(f"{r.name}: hyperparameter importance")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.5g}", border=0, classes="t", na_rep="")


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return f"<p class='note'>{html.escape(alt)}: not enough successful trials to draw it.</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'><figcaption>{html.escape(alt)}</figcaption></figure>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table.t{border-collapse:collapse;font-size:13px;margin:1em 0}table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#666;font-size:13px}.note{color:#a60}"""


def write_report(r: StudyResults, out: Path, top: int = 10) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    figs = {
        "progress": plot_progress(r, out / "progress.png"),
        "hyperparameters": plot_hyperparameters(r, out / "hyperparameters.png"),
        "parallel": plot_parallel(r, out / "parallel_coordinates.png"),
        "importance": plot_importance(r, out / "importance.png"),
    }
    s = r.summary()
    facts = pd.DataFrame([
        ("task", s["task"]), ("strategy", s["strategy"]), ("objective", f"{s['direction']} {s['objective']}"),
        ("trials", f"{s['trials']} of {s['target_trials']}"),
        ("status", ", ".join(f"{k} {v}" for k, v in s["status"].items())),
        ("best", "-" if s["best"] is None else f"{s['best']['objective']:.5g} (trial {s['best']['trial_id']})"),
        ("trials to 95% / 99% of the best", f"{s['trials_to_95pct_of_best']} / {s['trials_to_99pct_of_best']}"),
        ("compute", f"{s['compute']['wall_hours']:.3f} wall-hours, {s['compute']['gpu_hours']:.3f} GPU-hours"),
    ], columns=["", "value"])
    top_cols = ["trial_id", "objective", *(f"hp:{h}" for h in r.hyperparameters), "wall_seconds"]
    best_cfg = pd.DataFrame(sorted((s["best"] or {}).get("config", {}).items()), columns=["hyperparameter", "value"])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>orch report: {html.escape(r.name)}</title>
<style>{_CSS}</style></head><body>
<h1>Study {html.escape(r.name)}</h1>
{_table(facts)}
<h2>Best configuration</h2>{_table(best_cfg)}
<h2>Top {top} trials</h2>{_table(r.top(top)[[c for c in top_cols if c in r.trials.columns]])}
<h2>Progress</h2>{_img(figs['progress'], 'best objective vs trials and vs compute')}
<h2>Hyperparameters</h2>{_img(figs['hyperparameters'], 'each hyperparameter against the objective')}
{_img(figs['parallel'], 'parallel coordinates of the top trials')}
{_img(figs['importance'], 'hyperparameter importance')}
</body></html>"""
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def write_comparison(results: list[StudyResults], out: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Incumbent curves of several studies on one plot (vs trials and vs compute), plus a table with,
    for each study, the trials and compute it needed to reach the worst of the studies' final bests."""
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_rows(results)
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    for r in results:
        x = np.arange(1, len(r.trials) + 1)
        a.step(x, r.trials["incumbent"], where="post", lw=1.8, label=f"{r.name} ({r.spec.strategy.name})")
        cx, label = _compute_axis(r)
        b.step(cx, r.trials["incumbent"], where="post", lw=1.8, label=r.name)
    tasks = sorted({r.spec.task.name for r in results})
    a.set_title("best so far vs trials" + ("" if len(tasks) == 1 else " (different tasks!)"))
    a.set_xlabel("trial")
    a.set_ylabel(f"best {results[0].objective}")
    b.set_xlabel(label)
    b.set_title("best so far vs compute")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    fig.tight_layout()
    png = out / "compare.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    csv_path = out / "compare.csv"
    table.to_csv(csv_path, index=False)
    return png, csv_path, table
