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

from orchestrator.analysis import FAILED_STATUSES, StudyResults, comparison_rows
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


def _time_axis(hours: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """Hours as hours, minutes or seconds, whichever reads best."""
    total = float(hours[-1]) if len(hours) else 0.0
    if total >= 2:
        return hours, f"{what} (hours)"
    if total * 60 >= 2:
        return hours * 60, f"{what} (minutes)"
    return hours * 3600, f"{what} (seconds)"


def _compute_hours(r: StudyResults) -> tuple[np.ndarray, bool]:
    """Cumulative GPU-hours of the trials (True), or their wall-clock hours where no GPU was used (False)."""
    gpu = r.trials["gpu_hours"].to_numpy(dtype=float) if "gpu_hours" in r.trials else np.zeros(len(r.trials))
    if gpu.sum() > 0:
        return np.cumsum(gpu), True
    return _wall_hours(r), False


def _wall_hours(r: StudyResults) -> np.ndarray:
    wall = r.trials["wall_seconds"].to_numpy(dtype=float) if "wall_seconds" in r.trials else np.zeros(len(r.trials))
    return np.cumsum(wall) / 3600


def _compute_axis(r: StudyResults) -> tuple[np.ndarray, str]:
    hours, gpu = _compute_hours(r)
    if gpu:
        return hours, "cumulative GPU-hours"
    return _time_axis(hours, "cumulative wall-clock time of the trials, no GPU used")


def plot_progress(r: StudyResults, path: Path) -> Path:
    """Each trial's value and the best so far; failed trials (no value) as marks along the edge of the
    plot away from the best, never on the best-so-far line."""
    plt = _plt()
    from matplotlib.transforms import blended_transform_factory

    t = r.trials
    x = np.arange(1, len(t) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    ok = (t["status"] == "SUCCESS").to_numpy() & t["objective"].notna().to_numpy()
    done = t["status"].isin(FAILED_STATUSES).to_numpy()
    a.scatter(x[ok], t["objective"][ok], s=14, alpha=0.6, label="trial")
    inc = t["incumbent"].to_numpy(dtype=float)
    a.step(x, inc, where="post", c="black", lw=1.8, label="best so far")
    if done.any():
        lo, hi = a.get_ylim()  # a band of its own, on the side away from the best
        a.set_ylim(lo, hi + 0.1 * (hi - lo)) if r.minimize else a.set_ylim(lo - 0.1 * (hi - lo), hi)
        edge = 0.96 if r.minimize else 0.04
        a.scatter(x[done], np.full(done.sum(), edge), marker="x", c="red", s=22, clip_on=False,
                  transform=blended_transform_factory(a.transData, a.transAxes),
                  label=f"failed ({done.sum()}, no value)")
    a.set_xlabel("trial")
    a.set_ylabel(r.objective)
    a.set_title(f"{r.name}: {r.spec.task.direction} {r.objective}")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    cx, label = _compute_axis(r)
    b.step(cx, inc, where="post", c="black", lw=1.8)
    b.set_xlabel(label)
    b.set_ylabel(f"best {r.objective}")
    b.set_title("best so far vs compute")
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log_axis(ax: Any, lo: float, hi: float) -> None:
    """A log x axis with readable labels: major ticks only (1-2-5 within two decades), no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12 if decades <= 6 else 6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo / 1.15, hi * 1.15)


def plot_hyperparameters(r: StudyResults, path: Path) -> Path | None:
    """Each hyperparameter against the objective: numbers on their own (log) scale, categories by name;
    a conditional hyperparameter shows its active trials and says how many they are."""
    hps = r.hyperparameters
    ok = r.ok
    if not hps or ok.empty:
        return None
    plt = _plt()
    space = _space(r)
    cols = min(3, len(hps))
    rows = math.ceil(len(hps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    jitter = np.random.default_rng(0)
    for ax, h in zip(axes.flat, hps):
        v = ok[f"hp:{h}"]
        hp = space[h] if space is not None and h in space else None
        active = v.notna()
        num = pd.to_numeric(v[active], errors="coerce")
        categorical = hasattr(hp, "choices") or (hp is None and num.isna().any()) or \
            (hasattr(hp, "sequence") and pd.to_numeric(pd.Series(list(hp.sequence)), errors="coerce").isna().any())
        y = ok["objective"][active]
        if not categorical:
            ax.scatter(num, y, s=14, alpha=0.7)
            lo = float(getattr(hp, "lower", num.min() if len(num) else 1.0))
            hi = float(getattr(hp, "upper", num.max() if len(num) else 1.0))
            if getattr(hp, "log", False) and lo > 0:
                _log_axis(ax, lo, hi)
            else:
                ax.xaxis.get_major_locator().set_params(nbins=5)
        else:
            cats = [str(c) for c in getattr(hp, "choices", getattr(hp, "sequence", ()))] or \
                sorted(v[active].astype(str).unique())
            pos = v[active].astype(str).map({c: i for i, c in enumerate(cats)})
            ax.scatter(pos + jitter.uniform(-0.15, 0.15, len(pos)), y, s=14, alpha=0.7)
            ax.set_xticks(range(len(cats)), cats, rotation=20 if sum(map(len, cats)) > 24 else 0)
            ax.set_xlim(-0.5, len(cats) - 0.5)
        n_active = int(active.sum())
        ax.set_xlabel(h if n_active == len(v) else f"{h} (active in {n_active} of {len(v)} trials)")
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


INACTIVE_Y = -0.18  # where an inactive hyperparameter sits on its axis in parallel coordinates


def _axis_ticks(hp: Any) -> list[tuple[float, str]]:
    """(position in 0..1, label in the hyperparameter's own units) for a few points of its range."""
    if hasattr(hp, "choices") or hasattr(hp, "sequence"):
        items = [str(c) for c in getattr(hp, "choices", None) or getattr(hp, "sequence", ())]
        n = len(items)
        keep = range(n) if n <= 7 else sorted({0, n // 2, n - 1})
        return [(i / max(1, n - 1), _short(items[i])) for i in keep]
    if not hasattr(hp, "lower"):
        return [(0.0, _short(str(getattr(hp, "value", ""))))]
    lo, hi = float(hp.lower), float(hp.upper)
    out = []
    for q in (0.0, 0.5, 1.0):
        v = math.exp(math.log(lo) + q * (math.log(hi) - math.log(lo))) if getattr(hp, "log", False) and lo > 0 \
            else lo + q * (hi - lo)
        out.append((q, f"{round(v):d}" if "Integer" in type(hp).__name__ else f"{v:.3g}"))
    return out


def _short(text: str, n: int = 10) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def plot_parallel(r: StudyResults, path: Path, top: int = 20) -> Path | None:
    """The top trials across every hyperparameter: each axis labelled in its own units (low, middle,
    high of its range, or its choices; log scale where the space says so), inactive values on a band of
    their own below the axes."""
    ok = r.ok
    x = _encoded(r, ok)
    space = _space(r)
    if x is None or space is None or len(ok) < 2:
        return None
    plt = _plt()
    order = np.argsort(ok["objective"].to_numpy() * (1 if r.minimize else -1))
    sel = order[: max(2, min(top, len(ok)))]
    vals = ok["objective"].to_numpy()[sel]
    cmap = plt.get_cmap("viridis_r" if r.minimize else "viridis")
    norm = plt.Normalize(vals.min(), vals.max() if vals.max() > vals.min() else vals.min() + 1)
    hps = list(space.values())
    y = np.where(x < 0, INACTIVE_Y, x)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.9 * len(hps)), 4.8))
    has_inactive = bool((x[sel] < 0).any())
    if has_inactive:
        ax.axhspan(INACTIVE_Y - 0.06, INACTIVE_Y + 0.06, color="0.92", zorder=0)
        ax.text(-0.58, INACTIVE_Y, "inactive", ha="left", va="center", fontsize=8, color="0.35")
    for i, v in zip(sel[::-1], vals[::-1]):
        ax.plot(range(len(hps)), y[i], c=cmap(norm(v)), alpha=0.85, lw=1.5, zorder=2)
        off = x[i] < 0
        if off.any():
            ax.scatter(np.arange(len(hps))[off], y[i][off], s=22, facecolors="white", edgecolors=cmap(norm(v)), zorder=3)
    for j, hp in enumerate(hps):
        ax.axvline(j, c="0.6", lw=0.8, zorder=1)
        for pos, label in _axis_ticks(hp):
            ax.plot([j - 0.03, j], [pos, pos], c="0.4", lw=0.8, zorder=1)
            ax.text(j - 0.05, pos, label, ha="right", va="center", fontsize=7.5, color="0.2", zorder=4,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.75, "pad": 0.6})
    names = [hp.name + (" (log)" if getattr(hp, "log", False) else "") for hp in hps]
    ax.set_xticks(range(len(hps)), names, rotation=15 if len(hps) > 5 else 0)
    ax.set_yticks([])
    ax.set_xlim(-0.6, len(hps) - 0.6)
    ax.set_ylim(INACTIVE_Y - 0.1 if has_inactive else -0.08, 1.08)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{r.name}: the top {len(sel)} trials (each axis in its own units)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=ax, label=f"{r.objective} ({'lower' if r.minimize else 'higher'} is better)")
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


def _table(df: pd.DataFrame, left: bool = False) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.5g}", border=0, classes="t l" if left else "t",
                      na_rep="")


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return f"<p class='note'>{html.escape(alt)}: not enough successful trials to draw it.</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'><figcaption>{html.escape(alt)}</figcaption></figure>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table.t{border-collapse:collapse;font-size:13px;margin:1em 0}table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
table.l td{text-align:left}
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
        ("trials", f"{s['trials']} of {s['target_trials']}: {s['succeeded']} succeeded, {s['failed']} failed"),
        ("status", ", ".join(f"{k} {v}" for k, v in s["status"].items())),
        ("best", "-" if s["best"] is None else f"{s['best']['objective']:.5g} (trial {s['best']['trial_id']})"),
        ("trials to 95% / 99% of the best", f"{s['trials_to_95pct_of_best']} / {s['trials_to_99pct_of_best']}"),
        ("compute", f"{s['compute']['wall_hours']:.3f} wall-hours, {s['compute']['gpu_hours']:.3f} GPU-hours"),
    ], columns=["", "value"])
    top_cols = ["trial_id", "objective", *(f"hp:{h}" for h in r.hyperparameters), "wall_seconds"]
    best_cfg = pd.DataFrame(sorted((s["best"] or {}).get("config", {}).items()), columns=["hyperparameter", "value"])
    groups = r.failures()
    failed = "" if not groups else "<h2>Failed trials</h2>" + _table(pd.DataFrame(
        [(g.status, len(g.trials), ", ".join(g.trials[:12]) + (" ..." if len(g.trials) > 12 else ""), g.reason)
         for g in groups], columns=["status", "trials", "trial ids", "reason"]), left=True)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>orch report: {html.escape(r.name)}</title>
<style>{_CSS}</style></head><body>
<h1>Study {html.escape(r.name)}</h1>
{_table(facts)}
<h2>Best configuration</h2>{_table(best_cfg)}
<h2>Top {top} trials</h2>{_table(r.top(top)[[c for c in top_cols if c in r.trials.columns]])}
{failed}
<h2>Progress</h2>{_img(figs['progress'], 'best objective vs trials and vs compute')}
<h2>Hyperparameters</h2>{_img(figs['hyperparameters'], 'each hyperparameter against the objective')}
{_img(figs['parallel'], 'parallel coordinates of the top trials')}
{_img(figs['importance'], 'hyperparameter importance')}
</body></html>"""
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def compare_dir(root: Path, studies: list[str]) -> Path:
    """The default output folder of `orch compare`: <root>/compare/<study>-vs-<study>..."""
    name = "-vs-".join(studies)
    if len(name) > 120:
        name = "-vs-".join(studies[:3]) + f"-and-{len(studies) - 3}-more"
    return root / "compare" / name[:200]


def write_comparison(results: list[StudyResults], out: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Incumbent curves of several studies on one plot (vs trials and vs compute), plus a table with,
    for each study, the trials and compute it needed to reach the worst of the studies' final bests.
    Studies of different objectives are refused (ConfigError) before anything is written."""
    table = comparison_rows(results)
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    computed = [_compute_hours(r) for r in results]
    gpu = all(g for _, g in computed)  # else every study on wall-clock time, in one unit
    curves = [h if gpu else _wall_hours(r) for (h, _), r in zip(computed, results)]
    longest = max((float(c[-1]) for c in curves if len(c)), default=0.0)
    if gpu:
        scale, label = 1.0, "cumulative GPU-hours"
    else:
        (scaled,), label = _time_axis(np.array([longest]), "cumulative wall-clock time of the trials")
        scale = scaled / longest if longest > 0 else 1.0
    for r, hours in zip(results, curves):
        x = np.arange(1, len(r.trials) + 1)
        a.step(x, r.trials["incumbent"], where="post", lw=1.8, label=f"{r.name} ({r.spec.strategy.name})")
        b.step(hours * scale, r.trials["incumbent"], where="post", lw=1.8, label=r.name)
    tasks = sorted({r.spec.task.name for r in results})
    a.set_title("best so far vs trials" + ("" if len(tasks) == 1 else " (different tasks!)"))
    a.set_xlabel("trial")
    a.set_ylabel(f"best {results[0].objective} ({'min' if results[0].minimize else 'max'})")
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
