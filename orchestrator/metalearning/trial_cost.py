"""What a configuration costs to train, relative to a typical trial of its task, learned from the seconds
of the compatible past tasks' trials in the meta-dataset: an extra-trees regressor on the log ratio of a
trial's seconds to its task's median, so that past tasks on larger data or slower nodes count alike.

meta-asha runs its warm start cheapest first (``cheapest_first``). A study's first configuration runs its
whole budget with nothing to compare it to, and the configuration the past tasks like best is often the
slowest (on LCBench the portfolio's first is a wide network with a small batch: about five times the
median trial, 4 of the first 13 trial-units). Run after a cheaper one has finished, the curve model can
halt it at a rung when it is sure that it ends worse (``optimizers.asha.Asha._hopeless``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.metalearning.metadata import MetaData

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

ROWS_PER_TASK = 500  # past trials per task the regressor learns from (a random subset of larger tasks)
MIN_TRIALS = 8  # fewer timed full-budget past trials than this: no model


class TrialCost:
    """Predicted seconds of configurations relative to a typical (median) trial of their task."""

    def __init__(self, space: ConfigurationSpace, model: Any, n_tasks: int, n_trials: int) -> None:
        self.space, self.model, self.n_tasks, self.n_trials = space, model, n_tasks, n_trials

    def relative(self, configs: Sequence[dict[str, Any]]) -> np.ndarray:
        from orchestrator.metalearning.prior import forest_predict
        from orchestrator.optimizers.prior import smac_vectors

        if not configs:
            return np.zeros(0)
        x = np.ascontiguousarray(np.nan_to_num(smac_vectors(self.space, configs), nan=-1.0), dtype=np.float32)
        return np.exp(forest_predict(self.model, x))

    def ranked(self, configs: Sequence[dict[str, Any]]) -> tuple[list[int], np.ndarray]:
        """Indices of ``configs`` cheapest first (ties keep their order) and their relative costs."""
        rel = self.relative(configs)
        return [int(i) for i in np.argsort(rel, kind="stable")], rel


def timed_trials(meta: MetaData) -> Any:
    """The past trials that ran their whole budget from scratch with a positive time: ``ok`` (not halted),
    not a continuation of a paused trial (its seconds are those after the pause), and of a task whose
    trials ran several budgets (hyperband), only those at its largest."""
    import pandas as pd

    ok = meta.ok
    if "wall_seconds" not in ok.columns or not len(ok):
        return ok.iloc[:0]
    sec = pd.to_numeric(ok["wall_seconds"], errors="coerce")
    keep = np.isfinite(sec) & (sec > 0)
    if "continues" in ok.columns:
        keep &= ok["continues"].isna() | (ok["continues"].astype(str) == "")
    if "budget" in ok.columns:
        budget = pd.to_numeric(ok["budget"], errors="coerce")
        top = budget.groupby(ok["task"]).transform("max")
        keep &= budget.isna() | (budget >= top)
    out = ok[keep].copy()
    out["log_seconds"] = np.log(sec[keep].astype(float))
    return out


def trial_cost(meta: MetaData | None, space: ConfigurationSpace, seed: int = 0) -> TrialCost | None:
    """The cost model of ``meta``'s timed trials (already the compatible tasks); None under ``MIN_TRIALS``."""
    import pandas as pd

    from orchestrator.metalearning.encode import smac_encode_frame
    from orchestrator.optimizers.prior import extra_trees

    if meta is None or not len(meta):
        return None
    d = timed_trials(meta)
    if len(d) < MIN_TRIALS:
        return None
    rng = np.random.default_rng(seed)
    parts = []
    for _, g in d.groupby("task", sort=True):
        if len(g) > ROWS_PER_TASK:
            g = g.iloc[np.sort(rng.choice(len(g), ROWS_PER_TASK, replace=False))]
        parts.append(g.assign(ratio=g["log_seconds"] - g["log_seconds"].median()))
    rows = pd.concat(parts)
    x = np.nan_to_num(smac_encode_frame(space, rows), nan=-1.0)
    return TrialCost(space, extra_trees(x, rows["ratio"].to_numpy(dtype=float), seed), len(parts), len(rows))


def cheapest_first(configs: Sequence[dict[str, Any]], cost: TrialCost | None) -> list[dict[str, Any]]:
    """``configs`` by predicted cost, cheapest first; as they are without a model."""
    if cost is None or len(configs) < 2:
        return list(configs)
    return [configs[i] for i in cost.ranked(configs)[0]]
