"""Optuna's samplers behind the ask/tell protocol: the only module that imports optuna.

TPE and the GP sampler (Optuna's own Gaussian process, fitted with torch: well-kept code, and at 200
observations an ask takes about 0.2 s). The ConfigSpace becomes Optuna distributions with ordinals as
ordered integer indices (TPE and the GP then see their order: on hpobench-nn TPE reached regret .0090
at 100 trials that way against .0142 with the values as categories); inactive conditional values are
sampled but left out of the configuration. Configurations proposed by others (a warm start, a resumed
study's trials) are added to the study as finished trials when they are told.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import Optimizer, Suggestion, config_key

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

SAMPLERS = ("tpe", "gp")
#: for the GP, integer hyperparameters with more values than this are searched as real numbers and rounded
WIDE_INT = 16
_MAX_REPEATS = 3  # then a random unseen configuration (a GP can insist on a corner of a continuous space)


def optuna_available() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


class OptunaOptimizer(Optimizer):
    """Optuna's ``sampler`` ("tpe" or "gp"); ``initial_configs`` are evaluated first, in order."""

    def __init__(self, space: ConfigurationSpace, sampler: str = "tpe", seed: int = 0, budget: float | None = None,
                 initial_configs: Sequence[dict[str, Any]] = (), initial_origin: str = "warm start") -> None:
        if not optuna_available():
            raise ConfigError(f"--strategy: optuna-{sampler} needs Optuna (pip install 'orch[bench]')")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.name = f"optuna-{sampler}"
        self._space, self._budget, self._seed = space, budget, seed
        self._dists, self._codecs = _distributions(space, wide_ints_as_reals=sampler == "gp")
        if sampler == "tpe":
            chosen: Any = optuna.samplers.TPESampler(seed=seed)
        elif sampler == "gp":
            chosen = optuna.samplers.GPSampler(seed=seed)
        else:
            raise ValueError(f"unknown Optuna sampler {sampler!r} ({', '.join(SAMPLERS)})")
        self._study = optuna.create_study(sampler=chosen, direction="minimize")
        self._open: dict[str, Any] = {}  # config key -> Optuna trial asked and not told yet
        self._seen: set[str] = set()
        self._initial = [dict(c) for c in initial_configs]
        self._initial_origin = initial_origin
        self._fallback: Any = None

    # --- protocol -------------------------------------------------------------------------------

    def ask(self) -> Suggestion:
        while self._initial:
            config = self._initial.pop(0)
            if config_key(config) not in self._seen:
                self._seen.add(config_key(config))
                return Suggestion(config, self._budget, self._initial_origin)
        for _ in range(_MAX_REPEATS):  # a discrete space: the sampler may propose a configuration again
            trial = self._study.ask(self._dists)
            config = self._decode(trial.params)
            key = config_key(config)
            if key not in self._seen:
                self._seen.add(key)
                self._open[key] = trial
                return Suggestion(config, self._budget, self.name)
            self._study.tell(trial, state=_state("FAIL"))  # not evaluated: the samplers ignore failed trials
        config = self._unseen_sample()
        return Suggestion(config, self._budget, "random (sampler repeated itself)")

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        key = config_key(suggestion.config)
        self._seen.add(key)
        trial = self._open.pop(key, None)
        finite = cost is not None and math.isfinite(cost)
        if trial is not None:
            if finite:
                self._study.tell(trial, float(cost))  # type: ignore[arg-type]
            else:
                self._study.tell(trial, state=_state("FAIL"))
            return
        import optuna

        params = self._encode(suggestion.config)
        if finite:
            self._study.add_trial(optuna.trial.create_trial(params=params, distributions=self._dists,
                                                            value=float(cost)))  # type: ignore[arg-type]
        else:
            self._study.add_trial(optuna.trial.create_trial(params=params, distributions=self._dists,
                                                            state=_state("FAIL")))

    def pending(self, suggestion: Suggestion) -> None:
        self._seen.add(config_key(suggestion.config))

    def n_ready(self) -> int:
        return len(self._initial)

    # --- encoding -------------------------------------------------------------------------------

    def _decode(self, params: dict[str, Any]) -> dict[str, Any]:
        from ConfigSpace.util import deactivate_inactive_hyperparameters

        from orchestrator.space import config_to_dict

        values = {name: codec.decode(params[name]) for name, codec in self._codecs.items()}
        values.update({name: hp.value for name, hp in self._space.items() if type(hp).__name__ == "Constant"})
        return config_to_dict(deactivate_inactive_hyperparameters(values, self._space))

    def _encode(self, config: dict[str, Any]) -> dict[str, Any]:
        """A configuration as Optuna parameters; an inactive (absent) value as the hyperparameter's default."""
        return {name: codec.encode(config.get(name, self._space[name].default_value))
                for name, codec in self._codecs.items()}

    def _unseen_sample(self) -> dict[str, Any]:
        from ConfigSpace import ConfigurationSpace

        from orchestrator.optimizers.base import Exhausted
        from orchestrator.space import config_to_dict

        if self._fallback is None:
            self._fallback = ConfigurationSpace.from_serialized_dict(self._space.to_serialized_dict())
            self._fallback.seed(self._seed)
        for _ in range(1000):
            config = config_to_dict(self._fallback.sample_configuration())
            if config_key(config) not in self._seen:
                self._seen.add(config_key(config))
                return config
        raise Exhausted("no unseen configuration left in 1000 draws")


class _Codec:
    """One hyperparameter as one Optuna distribution (ordinals by index; a wide integer range as a real
    number, rounded)."""

    def __init__(self, values: list[Any] | None = None, rounded: tuple[int, int] | None = None) -> None:
        self.values, self.rounded = values, rounded

    def decode(self, x: Any) -> Any:
        if self.rounded is not None:
            return int(min(max(round(float(x)), self.rounded[0]), self.rounded[1]))
        if self.values is None:
            return x
        return self.values[int(x)]

    def encode(self, v: Any) -> Any:
        if self.rounded is not None:
            return float(v)
        if self.values is None:
            return v
        for i, x in enumerate(self.values):
            if x == v or str(x) == str(v):
                return i
        try:  # a number between the ordinal's values (a projected warm start): the nearest one
            return min(range(len(self.values)), key=lambda i: abs(float(self.values[i]) - float(v)))  # type: ignore[index]
        except (TypeError, ValueError):
            return 0


def _distributions(space: ConfigurationSpace, wide_ints_as_reals: bool = False
                   ) -> tuple[dict[str, Any], dict[str, _Codec]]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists: dict[str, Any] = {}
    codecs: dict[str, _Codec] = {}
    for name, hp in space.items():
        kind = type(hp).__name__
        if kind == "Constant":
            continue
        if kind == "OrdinalHyperparameter":
            dists[name] = IntDistribution(0, len(hp.sequence) - 1)
            codecs[name] = _Codec(list(hp.sequence))
        elif kind == "CategoricalHyperparameter":
            dists[name] = CategoricalDistribution(list(hp.choices))
            codecs[name] = _Codec()
        elif kind == "UniformIntegerHyperparameter" and wide_ints_as_reals and hp.upper - hp.lower + 1 > WIDE_INT:
            # as a real number: Optuna's discrete line search over a wide integer range costs seconds an ask
            dists[name] = FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log))
            codecs[name] = _Codec(rounded=(int(hp.lower), int(hp.upper)))
        elif kind == "UniformIntegerHyperparameter":
            dists[name] = IntDistribution(int(hp.lower), int(hp.upper), log=bool(hp.log))
            codecs[name] = _Codec()
        elif kind == "UniformFloatHyperparameter":
            dists[name] = FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log))
            codecs[name] = _Codec()
        else:
            raise ConfigError(f"Optuna strategies: hyperparameter '{name}' of type {kind} is not supported")
    return dists, codecs


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return getattr(TrialState, name)
