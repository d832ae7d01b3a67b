"""Strategy names -> optimisers. The one place that knows every strategy and what each needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import Optimizer
from orchestrator.spec import StudySpec

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    build: Callable[[StudySpec, ConfigurationSpace], Optimizer]


def _random(spec: StudySpec, space: ConfigurationSpace) -> Optimizer:
    from orchestrator.optimizers.random import RandomSearch

    return RandomSearch(space, seed=spec.seed, budget=spec.budget)


def _grid(spec: StudySpec, space: ConfigurationSpace) -> Optimizer:
    from orchestrator.optimizers.grid import GridSearch

    points = int(spec.strategy_options.get("grid_points", 3))
    return GridSearch(space, seed=spec.seed, points=points, budget=spec.budget)


def _smac(spec: StudySpec, space: ConfigurationSpace) -> Optimizer:
    from orchestrator.optimizers.smac import SmacOptimizer

    return SmacOptimizer(space, seed=spec.seed, n_trials=spec.n_trials, budget=spec.budget)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("random", "random search", _random),
        Strategy("grid", "grid search in a fixed shuffled order (--grid-points per numeric hyperparameter)", _grid),
        Strategy("smac", "SMAC3 Bayesian optimisation with a random forest", _smac),
    )
}


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")
    return name


def build_optimizer(spec: StudySpec, space: ConfigurationSpace, **extra: Any) -> Optimizer:
    return STRATEGIES[check_strategy(spec.strategy)].build(spec, space)
