"""meta-smac: SMAC that learns from past tasks, before and during the study.

1. Warm start: a greedy portfolio of (by default 3) configurations that together do best across the
   past tasks is SMAC's whole initial design.
2. The past tasks are re-weighted from the new task's own results (how well each ranks them).
3. Then (``incumbents``) each past task's own best configuration, the one it actually evaluated, in
   the order of the weights, then those of the related tasks a model prior leaves out of its nearest few
   (``SourcePrior.others``), the one the weighted past tasks like best first: a task's best is often a
   narrow optimum that the smoothed prior ranks low and that no consensus picks (on the fnn-regression
   table wine-white and Computers share their best row, which ranks 93rd to 121st of 128 on the other four
   tasks).
4. After that, every ask up to trial ``greedy_until`` and then every ``greedy_every``-th
   ask proposes the untried configuration the weighted past tasks like best ("prior-greedy"); the
   other asks are SMAC's, whose random forest also sees every past task's opinion of a configuration
   as inputs.
Measured on hpobench-nn, leave-one-task-out (see README); without related past tasks it is plain SMAC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.optimizers.base import Optimizer, Suggestion, config_key
from orchestrator.optimizers.prior import LetGo, SourcePrior, TaskWeights, prior_portfolio, smac_vectors

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


class TransferSmac(Optimizer):
    name = "meta-smac"

    def __init__(self, space: ConfigurationSpace, prior: SourcePrior | None, seed: int = 0, n_trials: int = 100,
                 budget: float | None = None, n_warm: int = 3, beta: float = 20.0, greedy_every: int = 2,
                 greedy_until: int = 0, incumbents: int = 0, warm: list[dict[str, Any]] | None = None,
                 inner: Callable[[list[dict[str, Any]], TaskWeights | None], Optimizer] | None = None,
                 letgo: LetGo | None = None,
                 order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
                 defer: int = 0) -> None:
        """``inner`` builds the optimiser of the other asks from the warm start and the task weights (a GP,
        meta-bnn's network); by default SMAC with the prior-augmented random forest. With ``letgo`` the
        prior proposes by its share (``LetGo``) instead of the fixed schedule, and a past task's best is
        tried only while that task ranks the new task's results better than chance (of the prior's tasks only).
        ``order`` arranges the portfolio it computes (meta-asha: cheapest first); a recorded warm start keeps its
        order. The last ``defer`` configurations of the warm start (meta-asha: the slowest) are not evaluated
        first but join the past tasks' bests (``others``)."""
        from orchestrator.optimizers.smac import SmacOptimizer

        self.space, self.prior, self.budget = space, prior, budget
        # a recorded warm start (a study's, any size) is evaluated whole before the prior-greedy asks begin
        self.n_warm = len(warm) if warm is not None else (n_warm if prior is not None else 0)
        self.greedy_every = greedy_every if prior is not None else 0
        self.greedy_until = greedy_until
        self.letgo = letgo if prior is not None else None
        # each past task's best configuration (aligned with the prior's tasks; None where it has none)
        self.incumbents: list[dict[str, Any] | None] = (list(prior.incumbents) if prior is not None and incumbents
                                                        else [])
        self.n_incumbents = incumbents
        self.others: list[dict[str, Any]] = list(prior.others) if self.incumbents and letgo is None else []
        self._s_others: np.ndarray | None = None
        self._incumbent_keys = [config_key(c) if c is not None else None for c in self.incumbents]
        self._rng = np.random.default_rng(seed)
        self._asked: set[str] = set()
        self._n_asked = 0
        self._obs_x: list[np.ndarray] = []
        self._obs_y: list[float] = []
        self._seed: int | None = None
        model = None
        if prior is not None:
            self.weights = TaskWeights(len(prior.tasks), beta=beta)
            # computed even when a warm start was recorded (a study's): its draw of candidate configurations
            # comes first either way, so the prior-greedy asks that follow are the same as the benchmark's
            portfolio = self.portfolio(max(n_warm, 1))
            if warm is None:
                warm = portfolio[:n_warm] if order is None else order(portfolio[:n_warm])
            if inner is None:
                from orchestrator.optimizers.smac_prior import PriorRandomForest

                model = PriorRandomForest(space, prior, self.weights, seed=seed)
        if defer and warm and len(warm) > defer:
            warm, deferred = warm[:-defer], warm[-defer:]
            self.others += deferred
            self.n_incumbents += defer
            self.n_warm = len(warm)
        self._other_keys = [config_key(c) for c in self.others]
        self.warm = list(warm or [])
        self.smac: Optimizer = (inner(self.warm, getattr(self, "weights", None)) if inner is not None else
                                SmacOptimizer(space, seed=seed, n_trials=n_trials, budget=budget,
                                              initial_configs=self.warm, initial_origin="meta: portfolio", model=model))
        self._s_obs: np.ndarray | None = None  # the prior at the observed configurations (tasks x n)
        self._s_inc: np.ndarray | None = None  # the prior at the past tasks' best configurations
        self._inc_col: dict[int, int] = {}

    def portfolio(self, n: int) -> list[dict[str, Any]]:
        assert self.prior is not None
        return prior_portfolio(self.prior, n, self._rng)

    # --- protocol ---------------------------------------------------------------------------------

    def ask(self) -> Suggestion:
        k = self._n_asked - self.n_warm
        self._n_asked += 1
        s = self._choose(k)
        if self._seed is None:  # the inner optimiser's seed, from its first proposal on
            self._seed = s.seed
        self._asked.add(config_key(s.config))
        return s

    def _choose(self, k: int) -> Suggestion:
        """The next proposal; ``k``: asks since the warm start (negative during it)."""
        if self.letgo is not None:
            # the prior's turns (by its share) go to the past tasks' untried bests while any trusted task has
            # one, the one the weighted past tasks like best first, then to its favourite configuration
            if k >= 0 and self._prior_turn():
                config = self._trusted_incumbent()
                if config is not None:
                    return Suggestion(config, self.budget, "meta: incumbent", self._seed)
                s = self._prior_greedy()
                if s is not None:
                    return s
            return self.smac.ask()
        if k >= 0 and self.incumbents:
            config = self._incumbent()
            if config is not None:
                return Suggestion(config, self.budget, "meta: incumbent", self._seed)
        if self.greedy_every and k >= 0 and (self._n_asked <= self.greedy_until or k % self.greedy_every == 0):
            s = self._prior_greedy()
            if s is not None:
                return s
        return self.smac.ask()

    def _prior_at_obs(self) -> np.ndarray:
        assert self.prior is not None
        if self._s_obs is None or self._s_obs.shape[1] != len(self._obs_y):
            self._s_obs = self.prior.values(np.stack(self._obs_x))
        return self._s_obs

    def _reweigh(self) -> None:
        if self._obs_y:
            self.weights.update(self._prior_at_obs(), np.array(self._obs_y))

    def _prior_turn(self) -> bool:
        """LetGo: is it the prior's turn, by its share given the new task's results so far?"""
        assert self.letgo is not None
        if not self._obs_y:
            return self.letgo.take(1.0)
        self._reweigh()
        s = self._prior_at_obs()
        share = self.letgo.share(self.weights.w @ s, np.stack(self._obs_x), np.array(self._obs_y))
        return self.letgo.take(share)

    def _trusted_incumbent(self) -> dict[str, Any] | None:
        """LetGo: the untried best configuration of a past task that ranks the new task's results better than
        chance (any, before three results), the one the weighted past tasks like best (the consensus of all
        of them while the weights are uniform)."""
        assert self.prior is not None
        keys = self._incumbent_keys
        open_ = [i for i, key in enumerate(keys) if key is not None and key not in self._asked]
        if not open_:
            return None
        self._reweigh()
        if len(self._obs_y) >= 3:
            open_ = [i for i in open_ if self.weights.taus[i] > 0]
            if not open_:
                return None
        if self._s_inc is None:
            self._s_inc = self.prior.values(smac_vectors(self.space, [c for c in self.incumbents if c is not None]))
            self._inc_col = {i: j for j, i in enumerate(i for i, c in enumerate(self.incumbents) if c is not None)}
        liked = self.weights.w @ self._s_inc[:, [self._inc_col[i] for i in open_]]
        return self.incumbents[open_[int(np.argmin(liked))]]

    def _incumbent(self) -> dict[str, Any] | None:
        """The untried best configuration of the past task weighted highest now (then of the ``others``), until
        ``n_incumbents`` of them have been tried (counted from the study's trials, so a resume continues the
        same way)."""
        keys = self._incumbent_keys
        tried = {key for key in (*keys, *self._other_keys) if key is not None and key in self._asked}
        if len(tried) >= self.n_incumbents:
            return None
        self._reweigh()
        for i in np.argsort(-self.weights.w, kind="stable"):
            if keys[i] is not None and keys[i] not in self._asked:
                return self.incumbents[i]
        open_ = [j for j, key in enumerate(self._other_keys) if key not in self._asked]
        if not open_:
            return None
        assert self.prior is not None
        if self._s_others is None:
            self._s_others = self.prior.values(smac_vectors(self.space, self.others))
        liked = self.weights.w @ self._s_others[:, open_]
        return self.others[open_[int(np.argmin(liked))]]

    def _prior_greedy(self) -> Suggestion | None:
        assert self.prior is not None
        self._reweigh()
        values, config_at = self.prior.candidates(self._rng)
        for j in np.argsort(self.weights.w @ values, kind="stable"):
            config = config_at(int(j))
            if config_key(config) not in self._asked:
                return Suggestion(config, self.budget, "meta: prior", self._seed)
        return None

    def _replayed(self, s: Suggestion) -> None:
        key = config_key(s.config)
        if key not in self._asked:  # from the study folder: counts as asked
            self._asked.add(key)
            self._n_asked += 1
        if self._seed is None and s.seed is not None and s.origin != "meta: prior":
            self._seed = s.seed

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        self._replayed(suggestion)
        if cost is not None and self.prior is not None:
            self._obs_x.append(smac_vectors(self.space, [suggestion.config])[0])
            self._obs_y.append(float(cost))
        self.smac.tell(suggestion, cost)

    def pending(self, suggestion: Suggestion) -> None:
        self._replayed(suggestion)
        self.smac.pending(suggestion)

    def n_ready(self) -> int:
        return self.smac.n_ready()

    def close(self) -> None:
        self.smac.close()
