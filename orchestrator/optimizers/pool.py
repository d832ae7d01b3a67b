"""A fixed pool of configurations evaluated in order: scrambled Sobol points plus a grid.

Used to build lookup tables for the benchmark harness (every task gets the same pool)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.optimizers.base import Exhausted, Optimizer, Suggestion, config_key
from orchestrator.space import config_to_dict

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


def sobol_configs(space: ConfigurationSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` scrambled Sobol points of the space (inactive conditional hyperparameters dropped)."""
    import numpy as np
    from ConfigSpace import Configuration
    from ConfigSpace.util import deactivate_inactive_hyperparameters
    from scipy.stats import qmc

    if n <= 0:
        return []
    dims = len(space)
    import warnings

    with warnings.catch_warnings():  # n need not be a power of two for a pool
        warnings.simplefilter("ignore", UserWarning)
        points = qmc.Sobol(d=dims, scramble=True, seed=seed).random(n)
    out = []
    for row in points:
        vector = np.array(row, dtype=np.float64)
        for i, hp in enumerate(space.values()):  # discrete hyperparameters: map [0,1) onto their indices
            size = getattr(hp, "num_choices", None) or len(getattr(hp, "sequence", ()) or ())
            if size:
                vector[i] = min(int(row[i] * size), size - 1)
        config = Configuration(space, vector=vector, allow_inactive_with_values=True)
        out.append(config_to_dict(deactivate_inactive_hyperparameters(dict(config), space)))
    return out


def pool_configs(space: ConfigurationSpace, sobol: int, grid_points: int, seed: int) -> list[dict[str, Any]]:
    from orchestrator.optimizers.grid import grid_configs

    pool = sobol_configs(space, sobol, seed) + (grid_configs(space, grid_points, seed) if grid_points else [])
    unique: dict[str, dict[str, Any]] = {}
    for c in pool:
        unique.setdefault(config_key(c), c)
    return list(unique.values())


class PoolOptimizer(Optimizer):
    name = "pool"

    def __init__(self, configs: list[dict[str, Any]], budget: float | None = None) -> None:
        self._configs = configs
        self._budget = budget
        self._asked: set[str] = set()
        self._pos = 0

    def ask(self) -> Suggestion:
        while self._pos < len(self._configs):
            config = self._configs[self._pos]
            self._pos += 1
            if config_key(config) not in self._asked:
                self._asked.add(config_key(config))
                return Suggestion(config, self._budget, origin="pool")
        raise Exhausted(f"all {len(self._configs)} pool configurations are evaluated")

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        self._asked.add(config_key(suggestion.config))

    def pending(self, suggestion: Suggestion) -> None:
        self._asked.add(config_key(suggestion.config))

    def n_ready(self) -> int:
        return len(self._configs) - len(self._asked)
