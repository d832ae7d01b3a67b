"""SMAC3 behind the ask/tell protocol: the only module that imports smac.

HyperparameterOptimizationFacade (random forest; pyrfr's when installed), ``deterministic=True``,
one evaluation per configuration, finite crash costs, SMAC's logging left alone, never a prompt on
stdin (a fresh temporary output directory with ``overwrite=True``: the study folder, not SMAC's
files, is what resume rebuilds from). Warm-start configurations become the initial design.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.optimizers.base import Optimizer, Suggestion, config_key, impute_crash_cost
from orchestrator.space import config_to_dict, to_configuration

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

_log = logging.getLogger("smac")


def _quiet_smac() -> None:
    # SMAC logs through the "smac" logger; keep it out of the user's terminal unless asked for.
    if not any(isinstance(h, logging.NullHandler) for h in _log.handlers):
        _log.addHandler(logging.NullHandler())
    _log.propagate = False


def pyrfr_available() -> bool:
    try:
        import pyrfr  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def finite_log_scaled_encoder() -> type:
    """SMAC's log-scaled cost encoder, with finite outputs.

    SMAC lowers the minimum by a constant 1e-20 before the log; next to a cost like 0.05 that
    subtraction vanishes in floating point, so the best cost(s) become log(0) = -inf whenever the
    25th percentile equals the minimum (ties, e.g. a lookup table answering with the same row).
    pyrfr's forest then crashes the process (a segfault, measured on the fnn table suite). The
    best costs are mapped one log-unit below the next finite value instead, keeping the order."""
    import numpy as np
    from smac.runhistory.encoder import RunHistoryLogScaledEncoder

    class FiniteLogScaledEncoder(RunHistoryLogScaledEncoder):
        def transform_response_values(self, values: np.ndarray) -> np.ndarray:
            out = super().transform_response_values(values)
            bad = ~np.isfinite(out)
            if not bad.any():
                return out
            finite = out[~bad]
            lo = float(finite.min()) - 1.0 if finite.size else 0.0
            hi = float(finite.max()) if finite.size else 0.0
            return np.where(np.isneginf(out), lo, np.where(bad, hi, out))

    return FiniteLogScaledEncoder


class SmacOptimizer(Optimizer):
    """SMAC's BO loop in ask/tell form.

    Parameters
    ----------
    space : ConfigurationSpace
    seed : int
    n_trials : int
        The study's trial budget; SMAC sizes its Sobol initial design from it (<= 25 %).
    initial_configs : sequence of dict, optional
        Warm-start configurations (meta-learned). They are evaluated first; with
        ``n_initial=0`` they are the whole initial design.
    n_initial : int | None
        Number of Sobol configurations; None lets SMAC choose.
    model : object | None
        A SMAC surrogate model instance; None for the random forest.
    acquisition : str
        "ei" (log EI for the random forest's log costs) or "ei-plain" for models on raw costs.
    """

    name = "smac"

    def __init__(
        self,
        space: ConfigurationSpace,
        seed: int = 0,
        n_trials: int = 100,
        budget: float | None = None,
        initial_configs: Sequence[dict[str, Any]] = (),
        initial_origin: str = "warm start",
        n_initial: int | None = None,
        model: Any = None,
        acquisition: Any = None,
        log_costs: bool = True,
        n_trees: int = 10,
        facade: str = "hpo",
        min_budget: float | None = None,
        max_budget: float | None = None,
        eta: int = 3,
        encoder: Any = None,
        retrain_after: int | None = None,
        random_probability: float | None = None,
    ) -> None:
        from smac import HyperbandFacade, MultiFidelityFacade, Scenario
        from smac import HyperparameterOptimizationFacade as HPO
        from smac.runhistory.encoder import RunHistoryEncoder

        _quiet_smac()
        self._space = space
        self._budget = budget
        self._multi_fidelity = facade in ("hyperband", "bohb")
        self.name = {"hpo": "smac", "hyperband": "hyperband", "bohb": "bohb"}[facade]
        self._outdir = tempfile.mkdtemp(prefix="orch-smac-")
        fidelity: dict[str, Any] = {}
        if self._multi_fidelity:
            fidelity = {"min_budget": float(min_budget or 1), "max_budget": float(max_budget or 27)}
        # SMAC refuses an initial design larger than its trial budget; the study loop counts the trials, so
        # a study of 1 or 2 trials warm-started with 3 configurations simply stops after them
        self._scenario = Scenario(
            space, name="orch", output_directory=self._outdir, deterministic=True,
            n_trials=max(int(n_trials), len(initial_configs) + 1, 1), seed=int(seed), crash_cost=float("inf"),
            **fidelity,
        )
        if self._multi_fidelity:
            F = HyperbandFacade if facade == "hyperband" else MultiFidelityFacade
            kw: dict[str, Any] = {}
            if facade == "bohb":
                kw["model"] = self._random_forest(n_trees, seed)
            self._smac = F(self._scenario, None, intensifier=F.get_intensifier(self._scenario, eta=eta),
                           overwrite=True, logging_level=False, **kw)
            self._finish_init()
            return
        warm = []
        seen = set()
        for values in initial_configs:
            key = config_key(values)
            if key not in seen:
                seen.add(key)
                warm.append(to_configuration(space, values))
        self._warm_keys = seen
        self._initial_origin = initial_origin
        if n_initial is None and warm:
            n_initial = 0
        design = HPO.get_initial_design(
            self._scenario, n_configs=n_initial, additional_configs=warm or None,
        )
        if model is None:
            model = self._random_forest(n_trees, seed)
        kwargs: dict[str, Any] = {"model": model}
        if acquisition is not None:
            kwargs["acquisition_function"] = acquisition
        if encoder is None:
            encoder = (finite_log_scaled_encoder() if log_costs else RunHistoryEncoder)(self._scenario)
        elif isinstance(encoder, type) or not hasattr(encoder, "transform_response_values"):
            encoder = encoder(self._scenario)  # a class or a factory of the scenario
        if retrain_after is not None:
            kwargs["config_selector"] = HPO.get_config_selector(self._scenario, retrain_after=retrain_after)
        if random_probability is not None:
            kwargs["random_design"] = HPO.get_random_design(self._scenario, probability=random_probability)
        self._smac = HPO(
            self._scenario, target_function=None, initial_design=design,
            intensifier=HPO.get_intensifier(self._scenario, max_config_calls=1),
            runhistory_encoder=encoder, overwrite=True, logging_level=False, **kwargs,
        )
        self._finish_init()

    def _finish_init(self) -> None:
        self._infos: dict[str, Any] = {}
        self._budgets_seen: dict[str, list[float]] = {}
        self._costs: list[float] = []
        self._deferred: list[Any] = []  # crashes told once a finite worst cost is known
        selector = getattr(self._smac._optimizer, "_intensifier", None)
        cfg_sel = getattr(selector, "_config_selector", None)
        self._initial = list(getattr(cfg_sel, "_initial_design_configs", []) or [])

    def _random_forest(self, n_trees: int, seed: int) -> Any:
        if pyrfr_available():
            from smac.model.random_forest.pyrfr.random_forest_pyrfr import PyrfrRandomForest

            return PyrfrRandomForest(self._space, log_y=True, n_trees=n_trees, ratio_features=1.0,
                                     min_samples_split=2, min_samples_leaf=1, seed=seed)
        from smac import HyperparameterOptimizationFacade as HPO

        return HPO.get_model(self._scenario, n_trees=n_trees)

    # --- protocol -------------------------------------------------------------------------------

    def ask(self) -> Suggestion:
        info = self._smac.ask()
        config = config_to_dict(info.config)
        budget = float(info.budget) if self._multi_fidelity and info.budget is not None else self._budget
        key = config_key(config, budget)
        self._infos[key] = info
        origin = self._origin(config, info.config.origin)
        if self._multi_fidelity:
            seen = self._budgets_seen.setdefault(config_key(config), [])
            origin = f"promoted from budget {max(seen):g}" if seen else origin
            origin = f"{origin}, budget {budget:g}"
            seen.append(budget)
        return Suggestion(config, budget, origin=origin, seed=info.seed)

    def _origin(self, config: dict[str, Any], smac_origin: str | None) -> str:
        if config_key(config) in getattr(self, "_warm_keys", set()):
            return self._initial_origin
        if smac_origin is None:  # sampled before the model had data
            return "random (no model yet)"
        text = smac_origin.lower()
        if "initial" in text or "sobol" in text:
            return "initial design"
        if "acquisition function maximizer" in text or "local search" in text:
            return "model"  # the acquisition's own candidates (its local search or sorted random samples)
        if "max retries" in text or "no candidates" in text:
            # the acquisition found no unevaluated candidate (an ordinal grid, mostly): SMAC samples at random
            return "random (SMAC's fallback: no new candidate)"
        if "random" in text:
            return "random (interleaved)"
        return "model"

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        self._seen_budget(suggestion)
        info = self._info_for(suggestion)
        if cost is None:
            worst = impute_crash_cost(self._costs)
            if worst is None:
                self._deferred.append(info)
                return
            self._smac.tell(info, TrialValue(cost=worst, status=StatusType.CRASHED), save=False)
            return
        self._costs.append(float(cost))
        self._smac.tell(info, TrialValue(cost=float(cost), status=StatusType.SUCCESS), save=False)
        if self._deferred:
            worst = impute_crash_cost(self._costs)
            for pending_info in self._deferred:
                self._smac.tell(pending_info, TrialValue(cost=worst, status=StatusType.CRASHED), save=False)
            self._deferred.clear()

    def pending(self, suggestion: Suggestion) -> None:
        self._seen_budget(suggestion)
        info = self._info_for(suggestion)
        self._smac.runhistory.add_running_trial(info)

    def _seen_budget(self, s: Suggestion) -> None:
        if self._multi_fidelity and s.budget is not None:
            seen = self._budgets_seen.setdefault(config_key(s.config), [])
            if s.budget not in seen:
                seen.append(s.budget)

    def n_ready(self) -> int:
        if self._multi_fidelity:
            return 0  # successive halving decides rung by rung: ask as slots free
        known = self._smac.runhistory.get_configs()  # a list: Configuration's hash is not value-based
        return sum(1 for c in self._initial if c not in known)

    def close(self) -> None:
        shutil.rmtree(self._outdir, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter shutdown the modules close() needs may already be gone
            pass

    # --- helpers --------------------------------------------------------------------------------

    def _info_for(self, suggestion: Suggestion) -> Any:
        from smac.runhistory.dataclasses import TrialInfo

        key = config_key(suggestion.config, suggestion.budget)
        info = self._infos.pop(key, None)
        if info is None:  # replayed from the study folder, or proposed by someone else (meta-smac's prior)
            config = to_configuration(self._space, suggestion.config)
            config.origin = suggestion.origin or "replayed"
            budget = suggestion.budget if self._multi_fidelity else None
            seed = suggestion.seed if suggestion.seed is not None else self._tf_seed()
            info = TrialInfo(config=config, seed=seed, budget=budget)
        return info

    def _tf_seed(self) -> int:
        """The seed SMAC evaluates every configuration with (deterministic): the intensifier's."""
        seeds = getattr(self._smac.intensifier, "_tf_seeds", None)
        if seeds:
            return int(seeds[0])
        keys = self._smac.intensifier.get_instance_seed_keys_of_interest()
        return int(keys[0].seed) if keys and keys[0].seed is not None else 0

    @property
    def incumbent(self) -> dict[str, Any] | None:
        inc = self._smac.intensifier.get_incumbent()
        return None if inc is None else config_to_dict(inc)
