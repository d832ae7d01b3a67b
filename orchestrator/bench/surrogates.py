"""`orch bench surrogates`: calibration and ask cost of the surrogate models, measured not assumed.

Calibration: on hpobench-nn, fit each model on n random configurations of a table and predict 2,000
held-out ones; report the fraction inside the central 90% predictive interval and the Gaussian
negative log-likelihood (per point, in units of the training targets' standard deviation), each model
in the target space it is used with (SMAC's log-scaled costs for the random forest and bnn; the
shared error warp for meta-bnn, pre-trained on the OTHER tables).
Ask cost: wall-clock and CPU seconds of SMAC asks made with 193-208 observations (retraining and
acquisition optimisation included) on the benchmark loop.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

Z90 = float(norm.ppf(0.95))


def log_scaled(y_train: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SMAC's RunHistoryLogScaledEncoder transform with the training set's statistics."""
    mn, mx, p5 = y_train.min(), y_train.max(), np.percentile(y_train, 5)
    lo = mn - (p5 - mn) - 1e-10
    if lo == mx:
        lo *= 1 - 1e-10
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log((y - lo) / (mx - lo))


def _model(name: str, space: Any, seed: int, meta_state: dict[str, Any] | None) -> Any:
    if name == "rf":
        from smac.model.random_forest.pyrfr.random_forest_pyrfr import PyrfrRandomForest

        return PyrfrRandomForest(space, log_y=True, n_trees=10, ratio_features=1.0, min_samples_split=2,
                                 min_samples_leaf=1, seed=seed)
    from orchestrator.optimizers.smac_bnn import DNGOModel, MetaBNNModel

    if name == "bnn":
        return DNGOModel(space, seed=seed)
    assert meta_state is not None
    return MetaBNNModel(space, meta_state, y_transform=meta_state["y_transform"], seed=seed)


@dataclass
class CalibrationRow:
    model: str
    task: str
    n: int
    rep: int
    coverage90: float
    nll: float
    nll_median: float
    rmse: float
    fit_seconds: float


def calibration(tasks: list[str] | None = None, ns: tuple[int, ...] = (25, 100, 200), reps: int = 3,
                models: tuple[str, ...] = ("rf", "bnn", "meta-bnn"), n_test: int = 2000) -> pd.DataFrame:
    from orchestrator.bench.suites import hpobench_suite
    from orchestrator.metalearning.bnn_meta import meta_state
    from orchestrator.optimizers.prior import smac_vectors

    suite = hpobench_suite()
    rows = []
    for task in tasks or sorted(suite.tasks):
        t = suite.tasks[task]
        x_all = smac_vectors(suite.space, t.configs)
        y_all = t.objective
        state = (meta_state(suite.meta(exclude=task), suite.space, seed=0,
                            target=("1 - val_acc", "minimize")) if "meta-bnn" in models else None)
        for n in ns:
            for rep in range(reps):
                rng = np.random.default_rng(1000 * rep + n)
                perm = rng.permutation(len(y_all))
                tr, te = perm[:n], perm[n:n + n_test]
                for name in models:
                    if name == "meta-bnn":
                        ytr, yte = np.log(y_all[tr] + 0.02), np.log(y_all[te] + 0.02)
                    else:
                        ytr, yte = log_scaled(y_all[tr], y_all[tr]), log_scaled(y_all[tr], y_all[te])
                    ok = np.isfinite(yte)
                    model = _model(name, suite.space, rep, state)
                    t0 = time.perf_counter()
                    model.train(x_all[tr], ytr[:, None])
                    fit = time.perf_counter() - t0
                    m, v = model.predict(x_all[te][ok])
                    m, v = m[:, 0], np.maximum(v[:, 0], 1e-12)
                    sd = float(np.std(ytr)) or 1.0
                    y = yte[ok]
                    z = np.abs(y - m) / np.sqrt(v)
                    nll = 0.5 * np.log(2 * np.pi * v) + 0.5 * (y - m) ** 2 / v - np.log(sd)
                    rows.append(CalibrationRow(name, task, n, rep, float(np.mean(z <= Z90)), float(np.mean(nll)),
                                               float(np.median(nll)), float(np.sqrt(np.mean((y - m) ** 2)) / sd), fit))
    return pd.DataFrame([asdict(r) for r in rows])


def ask_times(strategies: tuple[str, ...] = ("smac", "bnn", "meta-bnn"), tasks: tuple[str, ...] = ("car", "kc1"),
              seeds: tuple[int, ...] = (0,), trials: int = 209) -> pd.DataFrame:
    """Seconds per ask (wall and process CPU) of the asks made with 193..208 observations."""
    from orchestrator.bench.runner import suite_cached
    from orchestrator.strategies import STRATEGIES, StrategyContext, build_optimizer, plan_strategy
    from orchestrator.task import Task

    suite = suite_cached("hpobench-nn")
    rows = []
    for strategy in strategies:
        for task in tasks:
            for seed in seeds:
                table = suite.tasks[task]
                target = Task(suite.name, task, suite.objective, True, table.features)
                meta = suite.meta(exclude=task) if STRATEGIES[strategy].uses_meta else None
                planned, _ = plan_strategy(strategy, None, suite.space, target, meta, seed)
                opt = build_optimizer(StrategyContext(space=suite.space, strategy=planned, seed=seed, n_trials=100,
                                                      task=target, meta=meta))
                walls, cpus = [], []
                for _ in range(trials):
                    w0, c0 = time.perf_counter(), time.process_time()
                    s = opt.ask()
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
                    opt.tell(s, float(table.objective[table.lookup(s.config, suite.space)]))
                opt.close()
                w, c = np.array(walls[193:209]), np.array(cpus[193:209])
                rows.append({"strategy": strategy, "task": task, "seed": seed, "worst_wall_s": w.max(),
                             "mean_wall_s": w.mean(), "worst_cpu_s": c.max(), "mean_cpu_s": c.mean(),
                             "run_mean_wall_s": float(np.mean(walls))})
    return pd.DataFrame(rows)


def measure(out: Path, tasks: list[str] | None, reps: int, ask_tasks: tuple[str, ...]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`orch bench surrogates`: calibration.csv (+ plot) and ask_times.csv under ``out``; their summaries."""
    from orchestrator.bench.plots import calibration_plot

    out.mkdir(parents=True, exist_ok=True)
    cal = calibration(tasks, reps=reps)
    cal.to_csv(out / "calibration.csv", index=False)
    calibration_plot(cal, out / "calibration.png")
    asks = ask_times(tasks=ask_tasks)
    asks.to_csv(out / "ask_times.csv", index=False)
    return summarise(cal, asks)


def summarise(cal: pd.DataFrame, asks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cal_summary = cal.groupby(["model", "n"])[["coverage90", "nll", "nll_median", "rmse"]].mean().reset_index()
    ask_summary = asks.groupby("strategy")[["worst_wall_s", "mean_wall_s", "worst_cpu_s", "mean_cpu_s"]].agg(
        {"worst_wall_s": "max", "mean_wall_s": "mean", "worst_cpu_s": "max", "mean_cpu_s": "mean"}).reset_index()
    return cal_summary, ask_summary
