"""Builders of the transfer optimisers: meta-smac and meta-bnn from the meta-dataset.

The optimisers themselves (``optimizers/transfer.py``, ``optimizers/smac_bnn.py``) only see a source
prior; this module builds the prior (and meta-bnn's pre-trained network) from past tasks' trials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.prior import build_prior
from orchestrator.metalearning.related import relevant
from orchestrator.optimizers.base import Optimizer

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.task import Task

#: meta-smac's prior-greedy asks: every ask up to this trial, then every second one. Seeds 0-9, 25 trials,
#: mean regret at 10 / 25 trials with 8 against alternating from trial 4: fnn-regression .0445 / .0293 vs
#: .0525 / .0294, its wide space (128 configurations) .0089 / .0070 vs .0092 / .0075, hpobench-nn .0150 /
#: .0129 vs .0163 / .0128 (10, 12 or only greedy asks until 8: .0441-.0452 on fnn-regression, worse at 25)
#: (measured while table runs still replayed evaluated rows; the README has the figures since)
META_GREEDY_UNTIL = 8
#: meta-smac tries up to this many past tasks' own best configurations after the portfolio (the highest
#: weighted of the prior's tasks first, then the other related tasks'; on LCBench the model prior keeps 10
#: of 33 tasks, 5 distinct bests: regret at 10 / 25 trials .0163 / .0122 with only those, .0074 / .0028).
#: Seeds 0-9, 25 trials, mean regret at 10 / 25 trials and median trials to random search's
#: exact 100-trial quality, without against with: fnn-regression .0224 / .0082 / 15 vs .0185 / .0031 / 9
#: (wine-white and Computers share a best row that the other four tasks rank 93rd to 121st of 128), its wide
#: space .0079 / .0037 vs .0087 / .0043 (tasks that agree: the consensus was already there); hpobench-nn
#: (100 trials) .0150 vs .0158 at 10, .0096 vs .0097 at 100, 6 trials to random@100 either way
META_INCUMBENTS = 10
#: meta-bo's model prior keeps at most this many past tasks (the nearest by meta-features) on a space that is
#: not a finite grid: the prior's cost per ask grows with them (at 30, about 0.3 s a prior ask)
META_BO_TASKS = 30


def transfer_smac(space: ConfigurationSpace, meta: MetaData | None, task: Task | None, seed: int = 0,
                  n_trials: int = 100, budget: float | None = None, n_warm: int = 3,
                  warm: list[dict[str, Any]] | None = None, every_best: bool = False,
                  order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
                  defer: int = 0) -> Optimizer:
    """meta-smac: SMAC whose random forest sees the source prior, with the portfolio, incumbent and
    prior-greedy stages (plain SMAC when no past task relates to the space); ``every_best``: it tries every
    related past task's best configuration, not only up to ``META_INCUMBENTS`` of them; ``order`` arranges the
    portfolio it computes and its last ``defer`` configurations join the past bests."""
    from orchestrator.optimizers.transfer import TransferSmac

    meta = compatible(meta, space, task)
    target = dict(task.features) if task is not None else None
    prior = build_prior(space, meta, seed, target) if meta is not None else None
    incumbents = len(prior.tasks) + len(prior.others) if every_best and prior is not None else META_INCUMBENTS
    return TransferSmac(space, prior, seed=seed, n_trials=n_trials, budget=budget, n_warm=n_warm,
                        greedy_until=META_GREEDY_UNTIL, incumbents=incumbents, warm=warm, order=order,
                        defer=defer)


def meta_bo(space: ConfigurationSpace, meta: MetaData | None, task: Task | None, seed: int = 0,
            n_trials: int = 100, budget: float | None = None, n_warm: int = 3,
            warm: list[dict[str, Any]] | None = None) -> Optimizer:
    """Transfer that knows when to let go, on the base optimiser that suits the space (a GP, else SMAC's
    prior-augmented forest): the portfolio, then the past tasks' bests while those tasks rank the new
    task's results better than chance, then the prior proposes by its share (``LetGo``) and the base
    optimiser the rest; with no related past task, the plain base optimiser."""
    from orchestrator.optimizers.bo import base_optimizer, gp_suits
    from orchestrator.optimizers.prior import LetGo
    from orchestrator.optimizers.transfer import TransferSmac

    meta = compatible(meta, space, task)
    target = dict(task.features) if task is not None else None
    prior = build_prior(space, meta, seed, target, max_tasks=META_BO_TASKS) if meta is not None else None
    if prior is None:
        return base_optimizer(space, seed=seed, n_trials=n_trials, budget=budget, initial_configs=warm or [],
                              initial_origin="meta: portfolio")

    def inner(first: list[dict[str, Any]], weights: Any) -> Optimizer:
        forest = None
        if not gp_suits(space):
            from orchestrator.optimizers.smac_prior import PriorRandomForest

            forest = PriorRandomForest(space, prior, weights, seed=seed)
        return base_optimizer(space, seed=seed, n_trials=n_trials, budget=budget, initial_configs=first,
                              initial_origin="meta: portfolio", forest=forest)

    opt = TransferSmac(space, prior, seed=seed, n_trials=n_trials, budget=budget, n_warm=n_warm,
                       incumbents=len(prior.tasks), warm=warm, inner=inner, letgo=LetGo(seed=seed))
    opt.name = "meta-bo"
    return opt


def meta_bnn(space: ConfigurationSpace, meta: MetaData | None, task: Task | None, seed: int = 0,
             n_trials: int = 100, budget: float | None = None, n_warm: int = 3,
             warm: list[dict[str, Any]] | None = None, steps: int = 1000) -> Optimizer:
    """The BNN pre-trained on past tasks inside meta-smac's loop: the greedy portfolio of past tasks'
    best configurations, then every 2nd ask the configuration the re-weighted past tasks like best and
    the other asks EI on the adapted network. Alone, the network's EI stalled next to the incumbent on
    the real-job tables (regret .0925 at 25 trials on fnn-regression, 6 tasks x 10 seeds, against
    meta-smac's .0290)."""
    from orchestrator.metalearning.bnn_meta import meta_state
    from orchestrator.optimizers.smac_bnn import DNGOModel, MetaBNNModel, bnn_optimizer, warp_encoder
    from orchestrator.optimizers.transfer import TransferSmac

    loaded, meta = meta, compatible(meta, space, task)
    target = (task.objective, task.direction) if task is not None else None
    state = None
    if loaded is not None and meta is not None:  # pre-trained once per meta-dataset (a benchmark's runs share it)
        job = task.job if task is not None else None
        state = loaded.derived(("meta-bnn", seed, steps, target, job, space_key(space)),
                               lambda: meta_state(meta, space, seed=seed, target=target, steps=steps))
    features = dict(task.features) if task is not None else None
    prior = build_prior(space, meta, seed, features) if meta is not None else None
    if state is None and prior is None and not warm:  # no past tasks to learn from: the plain BNN
        return bnn_optimizer(space, seed=seed, n_trials=n_trials, budget=budget)
    if state is None:  # too few past tasks to pre-train on (one): the plain network
        model: Any = DNGOModel(space, seed=seed)
        encoder = None
    else:
        model = MetaBNNModel(space, state, y_transform=state["y_transform"], seed=seed)
        encoder = warp_encoder(*state["warp"])

    def network(first: list[dict[str, Any]], weights: Any) -> Optimizer:
        return bnn_optimizer(space, seed=seed, n_trials=n_trials, budget=budget, model=model, encoder=encoder,
                             initial_configs=first, initial_origin="meta: portfolio")

    return TransferSmac(space, prior, seed=seed, n_trials=n_trials, budget=budget, n_warm=n_warm, warm=warm,
                        inner=network)


def compatible(meta: MetaData | None, space: ConfigurationSpace, task: Task | None) -> MetaData | None:
    """Only the past tasks whose space is compatible with the new task's (metalearning.related)."""
    return relevant(meta, space, task.job) if meta is not None and task is not None else meta


def space_key(space: ConfigurationSpace) -> str:
    from orchestrator.space import space_to_json

    return space_to_json(space)


def meta_asha(space: ConfigurationSpace, meta: MetaData | None, task: Task | None, seed: int = 0,
              n_trials: int = 100, min_budget: float = 1.0, max_budget: float = 27.0, eta: float = 3,
              mode: str = "stopping", n_warm: int = 3, warm: list[dict[str, Any]] | None = None) -> Optimizer:
    """meta-asha: ASHA on running trials whose rungs rank by the learning-curve model of the compatible
    past tasks' curves (their predicted final cost), with meta-smac proposing the new configurations; its
    warm start (the portfolio of the past tasks' best) is not judged by its rung peers, only halted when
    the curve model is sure it ends worse than the best full result. After the portfolio it tries every
    related past task's best configuration (``every_best``), not only the nearest tasks': at a rung's
    epochs a past best costs a fraction of a trial, and the ones whose curves fall behind stop there (on
    LCBench 24 of the 34 tasks have another task's best as their optimum, and they held 79% of full-budget
    meta-smac's regret after 25 trials). The portfolio runs cheapest first (``cost_order``), and its slowest
    configuration joins the past bests instead of running whole first: on LCBench the past tasks'
    favourite is also the slowest (a wide network, small batch: 5-6 times the median trial), and run
    whole it cost more than the past bests that found better. Without past curves the rungs rank
    by the reported values (ASHA on meta-smac's proposals)."""
    from orchestrator.metalearning.curves import curve_model
    from orchestrator.optimizers.asha import Asha

    searcher = transfer_smac(space, meta, task, seed=seed, n_trials=n_trials, budget=max_budget, n_warm=n_warm,
                             warm=warm, every_best=True, order=cost_order(meta, space, task),
                             defer=1)
    model = None
    if meta is not None:
        job = task.job if task is not None else None
        model = meta.derived(("curve-model", job, space_key(space)),
                             lambda: curve_model(compatible(meta, space, task), space))
    return Asha(searcher, min_budget, max_budget, eta, mode=mode, judge=model.judge if model is not None else None,
                name="meta-asha", protect=getattr(searcher, "n_warm", 0))


def cost_order(meta: MetaData | None, space: ConfigurationSpace,
               task: Task | None) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Arranges configurations cheapest first by the compatible past trials' seconds (``trial_cost``; as
    they are without timed past trials); the model is fitted when first needed, once per meta-dataset."""
    from orchestrator.metalearning.trial_cost import cheapest_first, trial_cost

    def order(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if meta is None or len(configs) < 2:
            return list(configs)
        job = task.job if task is not None else None
        cost = meta.derived(("trial-cost", job, space_key(space)),
                            lambda: trial_cost(compatible(meta, space, task), space))
        return cheapest_first(configs, cost)

    return order
