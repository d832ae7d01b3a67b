"""What past tasks say about a configuration of the new space: the source prior (pure numpy).

For every past (source) task s, S_s(x) in [0, 1] is that task's min-max normalised objective at
configuration x (0 = the task's best), in the target space's own vector encoding (SMAC's: index
for ordinal and categorical hyperparameters, [0, 1] for numbers, NaN for inactive ones):

* ``GridPrior``: spaces of finite size (ordinals, categoricals) up to ``MAX_GRID`` points: S is
  tabulated on the whole grid, exact where a source task evaluated the point, an extra-trees fit of
  that task elsewhere.
* ``ModelPrior``: any space: one extra-trees regressor per source task on its (projected) trials.

The interface optimisers see (``SourcePrior``, ``TaskWeights``, the greedy portfolio) lives in
``optimizers/prior.py``; this module builds priors from the meta-dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.project import project
from orchestrator.metalearning.related import ranked_neighbours, relevant
from orchestrator.optimizers.prior import SourcePrior, extra_trees, smac_vectors

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

MAX_GRID = 2_000_000
ROWS_PER_TASK = 1500


def forest_predict(model: Any, x: np.ndarray) -> np.ndarray:
    """``model.predict(x)`` of a fitted single-output forest, bit for bit (the trees' predictions summed in
    order, then divided), without the per-call input checks and joblib dispatch that made the source
    prior most of meta-smac's ask time (SMAC's acquisition asks it for a few configurations at a time).
    ``x``: float32, C-contiguous, as the trees take it."""
    out = np.zeros(len(x), dtype=np.float64)
    for tree in model.estimators_:
        out += tree.tree_.predict(x)[:, 0]
    out /= len(model.estimators_)
    return out


def _task_rows(scored: pd.DataFrame, rng: np.random.Generator, limit: int = ROWS_PER_TASK) -> pd.DataFrame:
    if len(scored) <= limit:
        return scored
    best = scored.nsmallest(limit // 6, "score")
    rest = scored.drop(best.index)
    rest = rest.iloc[np.sort(rng.choice(len(rest), limit - len(best), replace=False))]
    return pd.concat([best, rest])



def grid_size(space: ConfigurationSpace) -> int | None:
    size = 1
    for hp in space.values():
        n = getattr(hp, "num_choices", None) or len(getattr(hp, "sequence", ()) or ())
        if type(hp).__name__ == "Constant":
            n = 1
        if not n or space.conditions:
            return None
        size *= n
    return size


class GridPrior(SourcePrior):
    """S tabulated on every point of a finite space."""

    def __init__(self, space: ConfigurationSpace, meta: MetaData, seed: int = 0) -> None:
        self.space = space
        self.hps = list(space.values())
        self.sizes = np.array([_size(hp) for hp in self.hps])
        self.n_grid = int(np.prod(self.sizes))
        scored = meta.scores()
        self.tasks = sorted(scored["task"].unique())
        idx = np.stack([_indices(hp, scored.get(f"hp:{hp.name}"), len(scored)) for hp in self.hps], axis=1)
        flat = self.flat(idx)
        norm = np.full((len(self.tasks), self.n_grid), np.nan)
        task_col = scored["task"].to_numpy()
        score = scored["score"].to_numpy(dtype=float)
        #: each task's best evaluated point (not the extra-trees fill, which can undercut it)
        self.incumbents: list[dict[str, Any] | None] = []
        for k, t in enumerate(self.tasks):
            m = task_col == t
            cell = pd.Series(score[m]).groupby(flat[m]).mean()
            norm[k, cell.index.to_numpy()] = cell.to_numpy()
            self.incumbents.append(self.config_of(self.vector_of(int(cell.idxmin()))))
            missing = np.isnan(norm[k])
            if missing.any():
                model = extra_trees(idx[m].astype(float), score[m], seed)
                norm[k, missing] = model.predict(self.unflat(np.nonzero(missing)[0]).astype(float))
        self.norm = norm

    def flat(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(np.rint(np.nan_to_num(idx, nan=0.0)), dtype=np.int64)
        out = np.zeros(len(idx), dtype=np.int64)
        for j, s in enumerate(self.sizes):
            out = out * s + np.clip(idx[:, j], 0, s - 1)
        return out

    def unflat(self, flat: np.ndarray) -> np.ndarray:
        flat = np.asarray(flat, dtype=np.int64).copy()
        out = np.zeros((len(flat), len(self.sizes)), dtype=np.int64)
        for j in range(len(self.sizes) - 1, -1, -1):
            out[:, j] = flat % self.sizes[j]
            flat //= self.sizes[j]
        return out

    def values(self, x: np.ndarray) -> np.ndarray:
        return self.norm[:, self.flat(x[:, : len(self.sizes)])]

    def candidates(self, rng: np.random.Generator) -> tuple[np.ndarray, Callable[[int], dict[str, Any]]]:
        return self.norm, lambda j: self.config_of(self.vector_of(j))

    def vector_of(self, flat: int) -> np.ndarray:
        return self.unflat(np.array([flat]))[0].astype(float)


def _size(hp: Any) -> int:
    if type(hp).__name__ == "Constant":
        return 1
    return int(getattr(hp, "num_choices", None) or len(hp.sequence))


def _indices(hp: Any, col: pd.Series | None, n: int) -> np.ndarray:
    """Grid index of each value (nearest on a log scale for positive numeric ordinals); a task that
    did not set the hyperparameter used its default."""
    if type(hp).__name__ == "Constant":
        return np.zeros(n, dtype=np.int64)
    col = pd.Series([hp.default_value] * n) if col is None else col.where(col.notna(), hp.default_value)
    values = list(getattr(hp, "sequence", None) or hp.choices)
    try:
        v = np.array(values, dtype=float)
        c = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        if np.isfinite(c).all():
            if (v > 0).all() and (c > 0).all():
                return np.abs(np.log(c)[:, None] - np.log(v)[None, :]).argmin(axis=1)
            return np.abs(c[:, None] - v[None, :]).argmin(axis=1)
    except (TypeError, ValueError):
        pass
    lookup = {str(val): i for i, val in enumerate(values)}
    return col.map(lambda s: lookup.get(str(s), 0)).to_numpy(dtype=np.int64)


def _bests(meta: MetaData, space: ConfigurationSpace, tasks: list[str]) -> list[dict[str, Any]]:
    """The best successful trial of each of ``tasks`` projected onto ``space`` (those that project), each
    configuration once, in the order of ``tasks``."""
    from orchestrator.optimizers.base import config_key

    ok = meta.ok[meta.ok["task"].isin(set(tasks))]
    if not len(ok):
        return []
    cols = [c for c in ok.columns if c.startswith("hp:")]
    best = ok.loc[ok.groupby("task", sort=True)["cost"].idxmin(), ["task", *cols]].set_index("task")
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        if t in best.index:
            config = project(MetaData.config_of(best.loc[t]), space)
            if config:
                out.setdefault(config_key(config), config)
    return list(out.values())


class ModelPrior(SourcePrior):
    """S_s as an extra-trees regressor per source task, trained on its projected trials (the
    ``max_tasks`` nearest by meta-features when there are more)."""

    def __init__(self, space: ConfigurationSpace, meta: MetaData, seed: int = 0, samples: int = 1000,
                 target: dict[str, Any] | None = None, max_tasks: int = 10) -> None:
        from orchestrator.metalearning.encode import smac_encode_frame

        self.space = space
        self.samples = samples
        rng = np.random.default_rng(seed)
        names = everyone = meta.task_names()
        if len(names) > max_tasks:
            names = sorted(nb.task for nb in ranked_neighbours(meta, dict(target or {}), space)[:max_tasks])
        self.others = _bests(meta, space, sorted(set(everyone) - set(names)))
        scored = meta.scores(names)  # only the tasks used: a fraction of a million-row meta-dataset
        self.tasks, self.models, pool = [], [], []
        #: each task's best trial (the regressor, fit with min_samples_leaf=2, smooths a narrow optimum away)
        self.incumbents: list[dict[str, Any] | None] = []
        cols = [c for c in scored.columns if c.startswith("hp:")]
        by_task = dict(tuple(scored.groupby("task", sort=True)))
        for t in names:
            if t not in by_task:  # a task without a successful trial
                continue
            rows = _task_rows(by_task[t], rng)
            if len(rows) < 2:
                continue
            x = np.nan_to_num(smac_encode_frame(space, rows), nan=-1.0)
            y = rows["score"].to_numpy(dtype=float)
            self.tasks.append(str(t))
            self.models.append(extra_trees(x, y, seed))
            best = rows.nsmallest(50, "score")
            top = [p for p in (project(MetaData.config_of(r), space) for _, r in best[cols].iterrows()) if p]
            self.incumbents.append(top[0] if top else None)
            pool += top
        from orchestrator.optimizers.base import config_key

        unique = {config_key(c): c for c in reversed(pool)}  # each configuration once, first occurrence kept
        self.pool = [unique[k] for k in dict.fromkeys(config_key(c) for c in pool)]
        pool = self.pool
        self._pool_x = smac_vectors(space, pool) if pool else np.zeros((0, len(space)))
        from ConfigSpace import ConfigurationSpace as CS

        self._sampler = CS.from_serialized_dict(space.to_serialized_dict())
        self._sampler.seed(seed)

    def values(self, x: np.ndarray) -> np.ndarray:
        xx = np.ascontiguousarray(np.nan_to_num(x, nan=-1.0), dtype=np.float32)
        return np.stack([forest_predict(m, xx) for m in self.models]) if self.models else np.zeros((0, len(x)))

    def candidates(self, rng: np.random.Generator) -> tuple[np.ndarray, Callable[[int], dict[str, Any]]]:
        from orchestrator.space import config_to_dict

        # the sampled configurations' own vectors (no dict round trip: it was most of an ask's time); the
        # one chosen becomes a dict
        fresh = self._sampler.sample_configuration(self.samples)
        x = np.vstack([self._pool_x, np.stack([c.get_array() for c in fresh])]) if fresh else self._pool_x
        n = len(self.pool)
        return self.values(x), lambda j: self.pool[j] if j < n else config_to_dict(fresh[j - n])


def build_prior(space: ConfigurationSpace, meta: MetaData, seed: int = 0,
                target: dict[str, Any] | None = None, max_tasks: int = 10) -> SourcePrior | None:
    """The grid prior for finite spaces, else the model prior; None without related past tasks."""
    meta = relevant(meta, space) if meta is not None else meta
    if meta is None or not len(meta.ok):
        return None
    size = grid_size(space)
    if size is not None and size <= MAX_GRID:
        prior: SourcePrior = GridPrior(space, meta, seed)
    else:
        prior = ModelPrior(space, meta, seed, target=target, max_tasks=max_tasks)
    return prior if prior.tasks else None
