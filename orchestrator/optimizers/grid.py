"""Grid search: every combination of ``points`` values per numeric hyperparameter (all values of
categorical and ordinal ones), visited in a fixed order shuffled by the seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import Exhausted, Optimizer, Suggestion, config_key
from orchestrator.space import config_to_dict

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

MAX_GRID = 1_000_000


def grid_configs(space: ConfigurationSpace, points: int, seed: int) -> list[dict[str, object]]:
    from ConfigSpace import Constant
    from ConfigSpace.hyperparameters import FloatHyperparameter as Float
    from ConfigSpace.hyperparameters import IntegerHyperparameter as Integer
    from ConfigSpace.util import generate_grid

    steps: dict[str, int] = {}
    size = 1
    for hp in space.values():
        if isinstance(hp, Integer):
            n = min(points, int(hp.upper) - int(hp.lower) + 1)
        elif isinstance(hp, Float):
            n = points
        elif isinstance(hp, Constant):
            continue
        else:
            n = len(getattr(hp, "choices", None) or getattr(hp, "sequence", ()))
        if isinstance(hp, (Integer, Float)):
            steps[hp.name] = n
        size *= max(n, 1)
    if size > MAX_GRID:
        raise ConfigError(f"--grid-points: a grid of {size:,} points is too large (max {MAX_GRID:,}); use fewer points")
    grid = [config_to_dict(c) for c in generate_grid(space, steps)]
    unique: dict[str, dict[str, object]] = {}
    for c in grid:  # integer hyperparameters can round two grid points onto one value
        unique.setdefault(config_key(c), c)
    configs = list(unique.values())
    order = np.random.default_rng(seed).permutation(len(configs))
    return [configs[i] for i in order]


class GridSearch(Optimizer):
    name = "grid"

    def __init__(self, space: ConfigurationSpace, seed: int = 0, points: int = 3, budget: float | None = None) -> None:
        self._configs = grid_configs(space, points, seed)
        self._budget = budget
        self._asked: set[str] = set()
        self._pos = 0

    @property
    def size(self) -> int:
        return len(self._configs)

    def ask(self) -> Suggestion:
        while self._pos < len(self._configs):
            config = self._configs[self._pos]
            self._pos += 1
            if config_key(config) not in self._asked:
                self._asked.add(config_key(config))
                return Suggestion(config, self._budget, origin="grid")
        raise Exhausted(f"the grid's {len(self._configs)} points are all evaluated")

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        self._asked.add(config_key(suggestion.config))

    def pending(self, suggestion: Suggestion) -> None:
        self._asked.add(config_key(suggestion.config))

    def n_ready(self) -> int:
        return len(self._configs) - len(self._asked)
