"""Warm-start selectors: which configurations a new study evaluates first.

(a) ``knn``: the best configurations of the nearest past tasks (by meta-features), auto-sklearn style.
(b) ``model``: a meta-model trained on the meta-dataset (task meta-features + configuration -> the
    task's normalised score) ranks many candidates for a zero-shot design.
(c) ``portfolio``: greedy set of configurations that together cover the past tasks best (no
    meta-features needed).
``meta-smac``: the greedy portfolio over the past tasks' per-task models (the source prior), which
    meta-smac and meta-bnn start from, in a study as in the benchmark; ``meta-asha``: the same, cheapest
    first by the past trials' seconds.
All of them only look at OTHER tasks; all candidates are projected into the new space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.metalearning.encode import encode_configs, encode_frame
from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.prior import build_prior
from orchestrator.metalearning.project import project_all
from orchestrator.metalearning.related import ranked_neighbours, relevant, task_features
from orchestrator.metalearning.similarity import Neighbour
from orchestrator.optimizers.base import config_key
from orchestrator.optimizers.prior import prior_portfolio, smac_vectors

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

TOP_PER_TASK = 25


@dataclass(frozen=True)
class WarmStart:
    method: str
    configs: list[dict[str, Any]]
    reasons: list[str]
    neighbours: list[Neighbour] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        return [n.task for n in self.neighbours]


@dataclass
class ScoreTable:
    """Candidate configurations (projected) x past tasks -> normalised score (0 = task best)."""

    candidates: list[dict[str, Any]]
    origin: list[str]
    tasks: list[str]
    scores: np.ndarray  # (n_candidates, n_tasks)


def _vectors(space: ConfigurationSpace, configs: list[dict[str, Any]]) -> np.ndarray:
    return encode_configs(space, configs)


def score_table(meta: MetaData, space: ConfigurationSpace, top: int = TOP_PER_TASK, seed: int = 0) -> ScoreTable:
    """Each task's ``top`` configurations as candidates, scored on every task: exactly where that
    task evaluated the same (projected) configuration, else by a random forest fitted to the task."""
    from sklearn.ensemble import RandomForestRegressor

    scored = meta.scores()
    names = list(space.keys())
    cols = [f"hp:{n}" for n in names if f"hp:{n}" in scored.columns]
    tasks = sorted(scored["task"].unique())
    cands: list[dict[str, Any]] = []
    origin: list[str] = []
    seen: set[str] = set()
    per_task: dict[str, pd.DataFrame] = {t: g for t, g in scored.groupby("task")}
    for t in tasks:
        g = per_task[t].sort_values("score", kind="stable").head(top)
        for c in project_all((MetaData.config_of(r) for _, r in g[cols].iterrows()), space):
            if config_key(c) not in seen:
                seen.add(config_key(c))
                cands.append(c)
                origin.append(t)
    cand_keys = [tuple(str(_clean(c.get(n))) for n in names) for c in cands]
    cand_vec = _vectors(space, cands)
    scores = np.full((len(cands), len(tasks)), np.nan)
    rng = np.random.default_rng(seed)
    for j, t in enumerate(tasks):
        g = per_task[t]
        exact = {}
        for row, s in zip(g[cols].itertuples(index=False), g["score"].to_numpy()):
            key = tuple(str(_clean(v)) for v in row)
            exact[key] = min(s, exact.get(key, math.inf))
        missing = []
        for i, k in enumerate(cand_keys):
            if len(cols) == len(names) and k in exact:
                scores[i, j] = exact[k]
            else:
                missing.append(i)
        if missing:
            train = _sample(g, 300, 700, rng)
            if len(train) >= 2:
                model = RandomForestRegressor(n_estimators=30, min_samples_leaf=2, random_state=seed, n_jobs=1)
                model.fit(encode_frame(space, train), train["score"].to_numpy())
                scores[missing, j] = model.predict(cand_vec[missing])
            else:
                scores[missing, j] = 0.5
    return ScoreTable(cands, origin, tasks, scores)


def _sample(g: pd.DataFrame, best: int, other: int, rng: np.random.Generator) -> pd.DataFrame:
    """A task's ``best`` rows plus ``other`` random ones (what a per-task model learns from)."""
    take = g.sort_values("score", kind="stable").head(best)
    rest = g.drop(take.index)
    if len(rest) > other:
        rest = rest.iloc[np.sort(rng.choice(len(rest), other, replace=False))]
    return pd.concat([take, rest])


def _clean(v: Any) -> Any:
    """One spelling per value for exact lookups (NaN and None are both 'absent')."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# --- (a) nearest tasks' best configurations ------------------------------------------------------


def knn(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 5, seed: int = 0,
        k: int | None = None) -> WarmStart:
    meta = relevant(meta, space)
    nbs = ranked_neighbours(meta, target, space)
    use = nbs[: k or len(nbs)]
    per: dict[str, list[dict[str, Any]]] = {nb.task: project_all(meta.best_configs(nb.task, n), space) for nb in use}
    configs, reasons, seen = [], [], set()
    for depth in range(n):
        for nb in use:
            lst = per[nb.task]
            if depth < len(lst) and config_key(lst[depth]) not in seen and len(configs) < n:
                seen.add(config_key(lst[depth]))
                configs.append(lst[depth])
                dist = "?" if math.isinf(nb.distance) else f"{nb.distance:.2f}"
                reasons.append(f"#{depth + 1} best of {nb.task} (distance {dist})")
    return WarmStart("knn", configs, reasons, use)


# --- (c) greedy portfolio --------------------------------------------------------------------------


def portfolio(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 5, seed: int = 0,
              table: ScoreTable | None = None) -> WarmStart:
    meta = relevant(meta, space)
    table = table or score_table(meta, space, seed=seed)
    if not table.candidates:
        return WarmStart("portfolio", [], [])
    s = table.scores
    chosen: list[int] = []
    current = np.full(s.shape[1], np.inf)
    for _ in range(min(n, len(table.candidates))):
        gains = np.nanmean(np.minimum(current[None, :], s), axis=1)
        gains[chosen] = np.inf
        i = int(np.argmin(gains + 1e-9 * np.nanmean(s, axis=1)))  # ties: the better config on average
        chosen.append(i)
        current = np.minimum(current, s[i])
    reasons = [f"portfolio #{r + 1} (from {table.origin[i]}; mean best score so far "
               f"{np.nanmean(np.minimum.reduce([s[j] for j in chosen[: r + 1]])):.3f})" for r, i in enumerate(chosen)]
    return WarmStart("portfolio", [table.candidates[i] for i in chosen], reasons)


# --- (b) meta-model ranking ------------------------------------------------------------------------


def _feature_matrix(feats: list[dict[str, Any]]) -> tuple[np.ndarray, list[str]]:
    from orchestrator.metalearning.similarity import standardise

    rows = standardise(feats)
    keys = sorted({k for r in rows for k, v in r.items() if not isinstance(v, str)})
    x = np.array([[float(r.get(k, 0.0)) if not isinstance(r.get(k), str) else 0.0 for k in keys] for r in rows])
    return (x if len(keys) else np.zeros((len(rows), 0))), keys


def model(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 5, seed: int = 0,
          samples: int = 2000) -> WarmStart:
    """A gradient-boosted meta-model: (meta-features, configuration) -> normalised score."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    meta = relevant(meta, space)
    scored = meta.scores()
    if scored.empty:
        return WarmStart("model", [], [])
    feats = task_features(meta)
    tasks = sorted(scored["task"].unique())
    fx, _ = _feature_matrix([target, *(feats.get(t, {}) for t in tasks)])
    task_row = {t: fx[i + 1] for i, t in enumerate(tasks)}
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for t, g in scored.groupby("task"):
        rows = _sample(g, 200, 800, rng)
        xs.append(np.hstack([encode_frame(space, rows), np.repeat(task_row[str(t)][None, :], len(rows), axis=0)]))
        ys.append(rows["score"].to_numpy())
    from threadpoolctl import threadpool_limits

    reg = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.08, random_state=seed)
    with threadpool_limits(1):  # small data: OpenMP threads only fight over the cores
        reg.fit(np.vstack(xs), np.concatenate(ys))
    cands = score_table(meta, space, top=10, seed=seed).candidates
    seen = {config_key(c) for c in cands}
    for c in _seeded(space, seed).sample_configuration(samples):  # samples of the space itself: valid as they are
        plain = {k: _clean(v) for k, v in dict(c).items()}
        if config_key(plain) not in seen:
            seen.add(config_key(plain))
            cands.append(plain)
    vec = _vectors(space, cands)
    with threadpool_limits(1):
        pred = reg.predict(np.hstack([vec, np.repeat(fx[0][None, :], len(cands), axis=0)]))
    order = np.argsort(pred, kind="stable")
    chosen: list[int] = []
    for i in order:  # diverse picks: not within 0.05 of an earlier pick in the unit cube
        if all(np.abs(vec[i] - vec[j]).max() > 0.05 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    reasons = [f"meta-model predicted score {pred[i]:.3f}" for i in chosen]
    return WarmStart("model", [cands[i] for i in chosen], reasons, ranked_neighbours(meta, target, space))


# --- the portfolio meta-smac and meta-bnn start from ------------------------------------------------


def transfer(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 3, seed: int = 0,
             max_tasks: int = 10) -> WarmStart:
    """Greedy portfolio over the source prior (one model per past task, or the tabulated grid)."""
    meta = relevant(meta, space)
    prior = build_prior(space, meta, seed, target, max_tasks=max_tasks)
    if prior is None:
        return WarmStart("meta-smac", [], [])
    configs = prior_portfolio(prior, n, np.random.default_rng(seed))
    s = prior.values(smac_vectors(space, configs))  # (tasks, n)
    reasons = [f"portfolio #{r + 1} over {len(prior.tasks)} past tasks' models (mean best score so far "
               f"{s[:, : r + 1].min(axis=1).mean():.3f})" for r in range(len(configs))]
    return WarmStart("meta-smac", configs, reasons, ranked_neighbours(meta, target, space))


def transfer_bo(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 3,
                seed: int = 0) -> WarmStart:
    """meta-bo's portfolio: the same over its larger prior (more past tasks kept on a continuous space)."""
    from orchestrator.metalearning.transfer import META_BO_TASKS

    ws = transfer(meta, target, space, n=n, seed=seed, max_tasks=META_BO_TASKS)
    return WarmStart("meta-bo", ws.configs, ws.reasons, ws.neighbours)


def transfer_asha(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 3,
                  seed: int = 0) -> WarmStart:
    """meta-asha's portfolio: meta-smac's, cheapest first by the past trials' seconds (``trial_cost``)."""
    from orchestrator.metalearning.trial_cost import trial_cost

    ws = transfer(meta, target, space, n=n, seed=seed)
    cost = trial_cost(relevant(meta, space), space) if len(ws.configs) > 1 else None
    if cost is None:
        return WarmStart("meta-asha", ws.configs, ws.reasons, ws.neighbours)
    order, rel = cost.ranked(ws.configs)
    reasons = [f"{ws.reasons[i]}; predicted time x{rel[i]:.2f} of a typical past trial" for i in order]
    return WarmStart("meta-asha", [ws.configs[i] for i in order], reasons, ws.neighbours)


def _seeded(space: ConfigurationSpace, seed: int) -> ConfigurationSpace:
    from ConfigSpace import ConfigurationSpace

    cs = ConfigurationSpace.from_serialized_dict(space.to_serialized_dict())
    cs.seed(seed)
    return cs


# --- the simple transfer baseline -----------------------------------------------------------------------


def best_of_others(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace, n: int = 1000,
                   seed: int = 0) -> WarmStart:
    """Each past task's best configuration (projected), the ones with the best mean normalised score on the
    past tasks first: the "zero-shot then TPE" baseline of the HPOBench anchors."""
    meta = relevant(meta, space)
    table = score_table(meta, space, top=1, seed=seed)
    if not table.candidates:
        return WarmStart("best-of-others", [], [])
    mean = np.nanmean(table.scores, axis=1)
    order = [int(i) for i in np.argsort(mean, kind="stable")[:n]]
    reasons = [f"best of {table.origin[i]} (mean score {mean[i]:.3f} on the past tasks)" for i in order]
    return WarmStart("best-of-others", [table.candidates[i] for i in order], reasons)


#: every selector takes (meta, target meta-features, space, n, seed)
SELECTORS = {"meta-smac": transfer, "meta-bo": transfer_bo, "meta-asha": transfer_asha, "knn": knn,
             "portfolio": portfolio, "model": model, "best-of-others": best_of_others}
