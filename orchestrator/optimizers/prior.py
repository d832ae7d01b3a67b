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

    def update(self, src: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = len(y)
        k = src.shape[0]
        if k == 0 or n < self.min_obs or self.beta <= 0:
            self.w = np.ones(k) / max(k, 1)
            return self.w
        iu = np.triu_indices(n, 1)
        dy = np.sign(y[:, None] - y[None, :])[iu]
        taus = np.array([np.mean(dy * np.sign(v[:, None] - v[None, :])[iu]) for v in src])
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
