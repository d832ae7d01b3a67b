"""The strategy registry: one entry per strategy holds everything about it.

An entry names its builder (a StrategyContext -> an Optimizer), its typed options and their defaults,
the warm-start selector of a meta-learning strategy, the `orch sbatch --from` source it serves and
its help text. Studies, `orch sbatch` and the benchmark harness all plan a strategy with
``plan_strategy`` and build it with ``build_optimizer``: what `orch bench` measures is what
`orch tune` runs. Adding a strategy is adding one entry to ``STRATEGIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import Optimizer
from orchestrator.spec import (
    AshaOptions,
    FidelityOptions,
    GridOptions,
    MetaAshaOptions,
    MetaBnnOptions,
    MetaOptions,
    PoolOptions,
    StrategyOptions,
    StrategySpec,
    WarmStartRecord,
)

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.metalearning.metadata import MetaData
    from orchestrator.task import Task


@dataclass(frozen=True)
class StrategyContext:
    """What a builder gets: the space, seed, trial budget, the planned strategy and (for meta-learning
    strategies) the task and the past trials of OTHER tasks to learn from."""

    space: ConfigurationSpace
    strategy: StrategySpec
    seed: int = 0
    n_trials: int = 100
    budget: float | None = None
    task: Task | None = None
    meta: MetaData | None = None

    @property
    def warm(self) -> list[dict[str, Any]] | None:
        """The recorded warm start (a study's), None when the builder is to compute its own."""
        w = self.strategy.warm
        return None if w is None or not w.configs else [dict(c) for c in w.configs]


@dataclass(frozen=True)
class Strategy:
    name: str
    help: str
    build: Callable[[StrategyContext], Optimizer]
    #: the typed options and their defaults (for a meta-learning strategy, the warm start's size)
    options: StrategyOptions = StrategyOptions()
    #: the meta-learned warm start's selector (`orch meta suggest --selector`); None: learns nothing
    selector: str | None = None
    #: `orch sbatch --from NAME` writes an array of this strategy's first configurations
    sbatch_source: str | None = None
    #: the batch design behind ``sbatch_source`` (n configurations known in advance), else ``build``
    batch: Callable[[StrategyContext, int], Optimizer] | None = None

    @property
    def uses_meta(self) -> bool:
        return self.selector is not None

    @property
    def fidelity(self) -> bool:
        """Budgets (epochs) vary per trial, or trials are judged at rungs: --min-budget, --max-budget and --eta
        apply."""
        return isinstance(self.options, (FidelityOptions, AshaOptions))


# --- builders ------------------------------------------------------------------------------------------


def _random(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.random import RandomSearch

    return RandomSearch(ctx.space, seed=ctx.seed, budget=ctx.budget)


def _default(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.random import RandomSearch

    return RandomSearch(ctx.space, seed=ctx.seed, budget=ctx.budget, start_with_default=True)


def _grid(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.grid import GridSearch

    assert isinstance(ctx.strategy.options, GridOptions)
    return GridSearch(ctx.space, seed=ctx.seed, points=ctx.strategy.options.points, budget=ctx.budget)


def _smac(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.smac import SmacOptimizer

    return SmacOptimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget)


def _smac_design(ctx: StrategyContext, n: int) -> Optimizer:
    """SMAC's Sobol initial design of ``n`` configurations (`orch sbatch --from initial`)."""
    from orchestrator.optimizers.smac import SmacOptimizer

    return SmacOptimizer(ctx.space, seed=ctx.seed, n_trials=4 * n, budget=ctx.budget, n_initial=n)


def _pool(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.pool import PoolOptimizer, pool_configs

    o = ctx.strategy.options
    assert isinstance(o, PoolOptions)
    sobol = o.sobol or (0 if o.grid_points else ctx.n_trials)  # no pool given: the study's trials, as Sobol points
    return PoolOptimizer(pool_configs(ctx.space, sobol, o.grid_points, o.seed), budget=ctx.budget)


def _bnn(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.smac_bnn import bnn_optimizer

    return bnn_optimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget)


def _multi_fidelity(facade: str) -> Callable[[StrategyContext], Optimizer]:
    def build(ctx: StrategyContext) -> Optimizer:
        from orchestrator.optimizers.smac import SmacOptimizer

        o = ctx.strategy.options
        assert isinstance(o, FidelityOptions)
        return SmacOptimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, facade=facade,
                             min_budget=o.min_budget, max_budget=o.max_budget, eta=o.eta)

    return build


def _asha(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.asha import Asha
    from orchestrator.optimizers.random import RandomSearch

    o = ctx.strategy.options
    assert isinstance(o, AshaOptions)
    return Asha(RandomSearch(ctx.space, seed=ctx.seed), o.min_budget, o.max_budget, o.eta, o.mode)


def _meta_asha(ctx: StrategyContext) -> Optimizer:
    from orchestrator.metalearning.transfer import meta_asha

    o = ctx.strategy.options
    assert isinstance(o, MetaAshaOptions)
    return meta_asha(ctx.space, ctx.meta, ctx.task, seed=ctx.seed, n_trials=ctx.n_trials, min_budget=o.min_budget,
                     max_budget=o.max_budget, eta=o.eta, mode=o.mode, n_warm=o.warm_configs, warm=ctx.warm)


def _meta_smac(ctx: StrategyContext) -> Optimizer:
    from orchestrator.metalearning.transfer import transfer_smac

    assert isinstance(ctx.strategy.options, MetaOptions)
    return transfer_smac(ctx.space, ctx.meta, ctx.task, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget,
                         n_warm=ctx.strategy.options.warm_configs, warm=ctx.warm)


def _bo(ctx: StrategyContext) -> Optimizer:
    from orchestrator.optimizers.bo import base_optimizer

    return base_optimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget)


def _meta_bo(ctx: StrategyContext) -> Optimizer:
    from orchestrator.metalearning.transfer import meta_bo

    assert isinstance(ctx.strategy.options, MetaOptions)
    return meta_bo(ctx.space, ctx.meta, ctx.task, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget,
                   n_warm=ctx.strategy.options.warm_configs, warm=ctx.warm)


def _meta_bnn(ctx: StrategyContext) -> Optimizer:
    from orchestrator.metalearning.transfer import meta_bnn

    o = ctx.strategy.options
    assert isinstance(o, MetaBnnOptions)
    return meta_bnn(ctx.space, ctx.meta, ctx.task, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget,
                    n_warm=o.warm_configs, warm=ctx.warm, steps=o.steps)


def _warm_smac(ctx: StrategyContext) -> Optimizer:
    """SMAC whose initial design is the recorded (or freshly planned) warm start."""
    from orchestrator.optimizers.smac import SmacOptimizer

    warm = ctx.warm
    selector = STRATEGIES[ctx.strategy.name].selector or ""
    if warm is None and ctx.meta is not None and len(ctx.meta):
        warm = list(plan_warm_start(ctx.strategy.name, ctx.space, ctx.task, ctx.meta, ctx.seed,
                                    ctx.strategy.options).configs)
    return SmacOptimizer(ctx.space, seed=ctx.seed, n_trials=ctx.n_trials, budget=ctx.budget,
                         initial_configs=warm or [], initial_origin=f"meta: {selector}")


def _optuna(sampler: str) -> Callable[[StrategyContext], Optimizer]:
    def build(ctx: StrategyContext) -> Optimizer:
        from orchestrator.optimizers.optuna import OptunaOptimizer

        return OptunaOptimizer(ctx.space, sampler, seed=ctx.seed, budget=ctx.budget)

    return build


def _transfer_tpe(ctx: StrategyContext) -> Optimizer:
    """Each past task's best configuration first (the best on the past tasks on average first), then TPE."""
    from orchestrator.optimizers.optuna import OptunaOptimizer

    warm = ctx.warm
    if warm is None and ctx.meta is not None and len(ctx.meta):
        warm = list(plan_warm_start(ctx.strategy.name, ctx.space, ctx.task, ctx.meta, ctx.seed,
                                    ctx.strategy.options).configs)
    return OptunaOptimizer(ctx.space, "tpe", seed=ctx.seed, budget=ctx.budget, initial_configs=warm or [],
                           initial_origin="meta: best of others")


#: meta-smac's and meta-bnn's portfolio size. Seeds 0-4, 25 trials, mean regret at 10 trials with 5 / 3 / 2
#: configurations: fnn-regression .0636 / .0444 / .0553, its wide space .0146 / .0104 / .0108, hpobench-nn
#: .0148 / .0155 (tasks that agree want a short portfolio, tasks that disagree a longer one)
META_WARM_CONFIGS = 3


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("random", "random search", _random, sbatch_source="random"),
        Strategy("default", "the space's default configuration first, then random search", _default),
        Strategy("grid", "grid search in a fixed shuffled order (--grid-points per numeric hyperparameter)", _grid,
                 options=GridOptions(), sbatch_source="grid"),
        Strategy("smac", "SMAC3 Bayesian optimisation with a random forest", _smac,
                 sbatch_source="initial", batch=_smac_design),
        Strategy("pool", "a fixed pool of configurations (Sobol points + grid), in order: for lookup tables", _pool,
                 options=PoolOptions()),
        Strategy("bnn", "SMAC with a Bayesian-neural-network surrogate (DNGO ensemble, calibrated) and EI", _bnn),
        Strategy("bo", "Bayesian optimisation with the model that suits the space: a Gaussian process (Optuna's) "
                 "for spaces without conditions, else SMAC's random forest", _bo),
        Strategy("hyperband", "Hyperband (SMAC's facade): epochs as budget, weak configurations stopped early",
                 _multi_fidelity("hyperband"), options=FidelityOptions()),
        Strategy("bohb", "BOHB-like multi-fidelity SMAC (random forest + Hyperband), epochs as budget",
                 _multi_fidelity("bohb"), options=FidelityOptions()),
        Strategy("meta-smac", "SMAC that learns from past studies: portfolio warm start, then each past task's "
                 "best configuration, past tasks re-weighted by the new task's results, their prior inside the "
                 "model and in every 2nd proposal",
                 _meta_smac, options=MetaOptions(warm_configs=META_WARM_CONFIGS), selector="meta-smac"),
        Strategy("meta-bo", "transfer that knows when to let go, on bo: the past tasks' portfolio, their bests "
                 "while they rank the new task's results better than chance, then their prior by its share "
                 "(how well they rank the results against how well the results rank themselves)",
                 _meta_bo, options=MetaOptions(warm_configs=META_WARM_CONFIGS), selector="meta-bo"),
        Strategy("meta-bnn", "meta-smac's loop with the BNN pre-trained on past tasks (ABLR-style) "
                 "and adapted to the study's own trials in place of the random forest",
                 _meta_bnn, options=MetaBnnOptions(warm_configs=META_WARM_CONFIGS), selector="meta-smac"),
        Strategy("meta-smac-knn", "SMAC warm-started with the best configurations of the nearest past tasks",
                 _warm_smac, options=MetaOptions(), selector="knn"),
        Strategy("meta-smac-portfolio", "SMAC warm-started with a greedy portfolio covering past tasks",
                 _warm_smac, options=MetaOptions(), selector="portfolio"),
        Strategy("meta-smac-model", "SMAC warm-started with a meta-model's zero-shot ranking",
                 _warm_smac, options=MetaOptions(), selector="model"),
        # references (Optuna: `pip install 'orch[bench]'`), run by `orch bench` beside orch's own strategies
        Strategy("optuna-tpe", "Optuna's TPE sampler (a reference; needs the bench extra)", _optuna("tpe")),
        Strategy("optuna-gp", "Optuna's Gaussian-process sampler (a reference; needs the bench extra)", _optuna("gp")),
        Strategy("transfer-tpe", "each past task's best configuration first, then Optuna's TPE (the simple "
                 "transfer baseline; needs the bench extra)", _transfer_tpe,
                 options=MetaOptions(warm_configs=1000), selector="best-of-others"),
        # learning curves: trials judged while they run, on the epochs they report
        Strategy("asha", "asynchronous successive halving on running trials: random configurations, each "
                 "judged on its learning curve at rungs (--min-budget x --eta^k epochs); those outside a rung's top "
                 "1/eta are paused, checkpoint kept, and resumed when they rise into it", _asha,
                 options=AshaOptions()),
        Strategy("meta-asha", "ASHA whose rungs rank trials by a learning-curve model learned from past "
                 "studies' curves (their predicted final value), on meta-smac's proposals and every related past "
                 "task's best; its warm start runs cheapest first (past trials' seconds), its slowest joins the "
                 "past bests, and the others stop only when the curve model is sure they end worse than the best "
                 "finished trial",
                 _meta_asha, options=MetaAshaOptions(warm_configs=META_WARM_CONFIGS), selector="meta-asha"),
    )
}

AUTO = "auto"
#: what `auto` runs when the meta-dataset holds related past tasks (else plain ``AUTO_ALONE``)
AUTO_LEARNER = "meta-smac"
AUTO_ALONE = "smac"
SBATCH_SOURCES = {s.sbatch_source: s for s in STRATEGIES.values() if s.sbatch_source}


def check_strategy(name: str) -> str:
    if name == AUTO:
        return name
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy '{name}' (choose from {AUTO}, {', '.join(STRATEGIES)})")
    return name


def strategy_of_selector(selector: str) -> Strategy:
    """The first strategy whose warm start ``selector`` plans (`orch meta suggest`'s default size)."""
    return next(s for s in STRATEGIES.values() if s.selector == selector)


def plan_warm_start(name: str, space: ConfigurationSpace, task: Task | None, meta: MetaData, seed: int,
                    options: StrategyOptions) -> Any:
    """The warm start of meta-learning strategy ``name`` on ``meta`` (a metalearning.WarmStartPlan)."""
    from orchestrator.metalearning.warmstart import plan

    n = options.warm_configs if isinstance(options, (MetaOptions, MetaAshaOptions)) else MetaOptions().warm_configs
    selector = STRATEGIES[name].selector or ""
    return plan(meta, space, task, selector, n=n, seed=seed)


def plan_strategy(name: str, options: StrategyOptions | None, space: ConfigurationSpace, task: Task | None,
                  meta: MetaData | None, seed: int) -> tuple[StrategySpec, list[str]]:
    """Resolve ``auto`` and plan a meta-learning strategy's warm start from ``meta`` (past trials of other
    tasks). Returns the strategy to record and notes for the user; builds no optimiser."""
    from orchestrator.metalearning.related import relevant

    learner = AUTO_LEARNER if name == AUTO else check_strategy(name)
    entry = STRATEGIES[learner]
    opts = options if options is not None else entry.options
    if not entry.uses_meta:
        return StrategySpec(learner, opts), []
    if meta is None:
        from orchestrator.metalearning.metadata import MetaData

        meta = MetaData.from_frame(__import__("pandas").DataFrame())
    warm = plan_warm_start(learner, space, task, meta, seed, opts)
    job = task.job if task is not None else None
    studies = tuple(sorted(map(str, relevant(meta, space, job).df["study"].unique()))) if len(meta) else ()
    chosen = learner if warm.configs or name != AUTO else AUTO_ALONE
    chosen_opts = opts if chosen == learner else STRATEGIES[chosen].options
    record = WarmStartRecord(tuple(warm.configs), tuple(warm.reasons), warm.selector,
                             tuple((t, float(d)) for t, d in warm.tasks), studies)
    if not warm.configs:
        notes = [f"{chosen}: no related past tasks in the meta-dataset; SMAC starts from its own initial design"]
        return StrategySpec(chosen, chosen_opts, replace(record, configs=(), reasons=())), notes
    learned = ", ".join(f"{t} {'?' if d == float('inf') else f'{d:.2f}'}" for t, d in warm.tasks[:6])
    more = f" and {len(warm.tasks) - 6} more" if len(warm.tasks) > 6 else ""
    then = ""
    if chosen == "meta-smac":
        from orchestrator.metalearning.transfer import META_INCUMBENTS

        then = f"; then the past tasks' own best configurations (up to {META_INCUMBENTS})"
    notes = [f"{chosen}: warm start with {len(warm.configs)} configurations ({warm.selector}) learned from "
             f"{len(warm.tasks)} past tasks (distance by meta-features): {learned}{more}{then}"]
    return StrategySpec(chosen, chosen_opts, record), notes


def build_optimizer(ctx: StrategyContext) -> Optimizer:
    return STRATEGIES[check_strategy(ctx.strategy.name)].build(ctx)


def batch_optimizer(ctx: StrategyContext, n: int) -> Optimizer:
    """The optimiser whose first ``n`` asks fill an `orch sbatch` array."""
    entry = STRATEGIES[check_strategy(ctx.strategy.name)]
    return entry.batch(ctx, n) if entry.batch is not None else entry.build(ctx)
