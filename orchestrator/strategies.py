"""Strategy names -> optimisers. The one place that knows every strategy and what each needs.

Studies and the benchmark harness build optimisers the same way, from a StrategyContext: the space,
seed, trial budget, and (for meta-learning strategies) the task and the past trials to learn from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import Optimizer

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.task import Task


@dataclass(frozen=True)
class StrategyContext:
    space: ConfigurationSpace
    seed: int = 0
    n_trials: int = 100
    budget: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    task: Task | None = None
    #: past trials of OTHER tasks (a metalearning.MetaData); None for strategies that need none
    meta: Any = None


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    build: Callable[[StrategyContext], Optimizer]
    uses_meta: bool = False


def _random(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.random import RandomSearch

    return RandomSearch(ctx.space, seed=ctx.seed, budget=ctx.budget)


def _default(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.random import RandomSearch

    return RandomSearch(ctx.space, seed=ctx.seed, budget=ctx.budget, start_with_default=True)


def _grid(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.grid import GridSearch

    return GridSearch(ctx.space, seed=ctx.seed, points=int(ctx.options.get("grid_points", 3)), budget=ctx.budget)


def _smac(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.smac import SmacOptimizer

    return SmacOptimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget)


def _pool(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.pool import PoolOptimizer, pool_configs

    configs = pool_configs(ctx.space, int(ctx.options.get("pool_sobol", 0)), int(ctx.options.get("pool_grid_points", 0)),
                           int(ctx.options.get("pool_seed", 0)))
    return PoolOptimizer(configs, budget=ctx.budget)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("random", "random search", _random),
        Strategy("default", "the space's default configuration first, then random search", _default),
        Strategy("grid", "grid search in a fixed shuffled order (--grid-points per numeric hyperparameter)", _grid),
        Strategy("smac", "SMAC3 Bayesian optimisation with a random forest", _smac),
        Strategy("pool", "a fixed pool of configurations (Sobol points + grid), in order: for lookup tables", _pool),
    )
}


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")
    return name


def build_optimizer(name: str, ctx: StrategyContext) -> Optimizer:
    return STRATEGIES[check_strategy(name)].build(ctx)
