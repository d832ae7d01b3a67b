"""What transfer optimisers need to know about past tasks: the source prior's interface (pure numpy).

For every past (source) task s, S_s(x) in [0, 1] is that task's normalised objective at configuration
x (0 = the task's best), in the target space's own vector encoding (SMAC's: index for ordinal and
categorical hyperparameters, [0, 1] for numbers, NaN for inactive ones). ``metalearning`` builds
priors from the meta-dataset; optimisers only use this interface. ``TaskWeights`` re-weights the
sources from the new task's own observations, ``greedy_portfolio`` picks configurations that cover them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


def smac_vectors(space: ConfigurationSpace, configs: Sequence[dict[str, Any]]) -> np.ndarray:
    """Configurations in SMAC's vector encoding of ``space`` (one row each)."""
    from ConfigSpace import Configuration

    if not configs:
        return np.zeros((0, len(space)))
    return np.stack([Configuration(space, values=c).get_array() for c in configs])


class SourcePrior:
    """Past tasks' opinion of configurations of the new space."""

    space: Any = None
    tasks: list[str]
    #: each task's best evaluated configuration, aligned with ``tasks`` (None: none projects)
    incumbents: list[dict[str, Any] | None]
    #: the best evaluated configurations of the related past tasks left out of ``tasks`` (a model prior keeps
    #: the nearest few), each once
    others: Sequence[dict[str, Any]] = ()

    def values(self, x: np.ndarray) -> np.ndarray:
        """(n_tasks, n) normalised objectives of the rows of ``x`` (SMAC vectors)."""
        raise NotImplementedError

    def candidates(self, rng: np.random.Generator) -> tuple[np.ndarray, Callable[[int], dict[str, Any]]]:
        """Configurations to choose from: their values (n_tasks, n) and the configuration of column j."""
        raise NotImplementedError

    def config_of(self, vector: np.ndarray) -> dict[str, Any]:
        from ConfigSpace import Configuration

        from orchestrator.space import config_to_dict

        return config_to_dict(Configuration(self.space, vector=vector))


class TaskWeights:
    """w_s ∝ exp(beta * tau_s): tau_s is Kendall's tau-a between the new task's observed costs and
    source s's normalised objectives at the same configurations (uniform under ``min_obs`` points)."""

    def __init__(self, n: int, beta: float = 20.0, min_obs: int = 3) -> None:
        self.beta, self.min_obs = beta, min_obs
        self.w = np.ones(n) / max(n, 1)
        self.taus = np.zeros(n)

    def update(self, src: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = len(y)
        k = src.shape[0]
        if k == 0 or n < self.min_obs or self.beta <= 0:
            self.w = np.ones(k) / max(k, 1)
            return self.w
        iu = np.triu_indices(n, 1)
        dy = np.sign(y[:, None] - y[None, :])[iu]
        taus = np.array([np.mean(dy * np.sign(v[:, None] - v[None, :])[iu]) for v in src])
        self.taus = taus
        logw = self.beta * taus
        w = np.exp(logw - logw.max())
        self.w = w / w.sum()
        return self.w


def prior_portfolio(prior: SourcePrior, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` configurations that together do best across the prior's past tasks (a greedy portfolio)."""
    values, config_at = prior.candidates(rng)
    return [config_at(j) for j in greedy_portfolio(values, n)]


def greedy_portfolio(s: np.ndarray, k: int) -> list[int]:
    """Columns of ``s`` (tasks x candidates) that together minimise the mean best score per task."""
    cur = np.full(s.shape[0], np.inf)
    chosen: list[int] = []
    for _ in range(min(k, s.shape[1])):
        score = np.minimum(s, cur[:, None]).mean(axis=0)
        score[chosen] = np.inf
        j = int(np.argmin(score))
        chosen.append(j)
        cur = np.minimum(cur, s[:, j])
    return chosen


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a between two vectors (0 with fewer than two points)."""
    n = len(a)
    if n < 2:
        return 0.0
    iu = np.triu_indices(n, 1)
    return float(np.mean(np.sign(a[:, None] - a[None, :])[iu] * np.sign(b[:, None] - b[None, :])[iu]))


def self_tau(x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5, min_obs: int = 8) -> float | None:
    """How well the new task's own results rank themselves: Kendall's tau between its costs and a
    cross-validated extra-trees model's predictions of them (None under ``min_obs`` results)."""
    n = len(y)
    if n < min_obs:
        return None
    xx = np.nan_to_num(x, nan=-1.0)
    pred = np.empty(n)
    order = np.random.default_rng(seed).permutation(n)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        pred[test] = extra_trees(xx[train], y[train], seed).predict(xx[test])
    return kendall_tau(pred, y)


def extra_trees(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """The extra-trees regressor the source prior and the new task's self-ranking fit (NaN already encoded)."""
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=30, min_samples_leaf=2, random_state=seed, n_jobs=1).fit(x, y)


class LetGo:
    """The prior's share of proposals: sigma(sharpness * (tau_prior - tau_self)), where tau_prior is how well
    the weighted past tasks rank the new task's results and tau_self how well its own results rank
    themselves (cross-validated; 0 while there are too few); none while the past tasks rank them no better
    than chance. A credit accumulates the share and a prior proposal spends one credit, so the share is
    also the long-run fraction of the asks, deterministically."""

    def __init__(self, sharpness: float = 10.0, seed: int = 0) -> None:
        self.sharpness, self.seed = sharpness, seed
        self.credit = 0.0
        self.last = 1.0

    def share(self, prior_at_obs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        tau_prior = kendall_tau(prior_at_obs, y) if len(y) >= 3 else 1.0
        if tau_prior <= 0:
            self.last = 0.0
            return 0.0
        mine = self_tau(x, y, seed=self.seed)
        self.last = float(1.0 / (1.0 + np.exp(-self.sharpness * (tau_prior - (mine or 0.0)))))
        return self.last

    def take(self, share: float) -> bool:
        """Credit this ask's share; True when it is the prior's turn."""
        self.credit += share
        if self.credit >= 1.0:
            self.credit -= 1.0
            return True
        return False
