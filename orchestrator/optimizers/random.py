"""Random search: independent samples from the space, without repeats while unseen points remain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.optimizers.base import Exhausted, Optimizer, Suggestion, config_key
from orchestrator.space import config_to_dict

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

_MAX_DRAWS = 1000


class RandomSearch(Optimizer):
    name = "random"

    def __init__(self, space: ConfigurationSpace, seed: int = 0, budget: float | None = None,
                 start_with_default: bool = False) -> None:
        from ConfigSpace import ConfigurationSpace

        # a private copy: sampling must not depend on who else draws from the caller's space
        self._space = ConfigurationSpace.from_serialized_dict(space.to_serialized_dict())
        self._space.seed(seed)
        self._budget = budget
        self._seen: set[str] = set()
        self._default = config_to_dict(self._space.get_default_configuration()) if start_with_default else None

    def ask(self) -> Suggestion:
        if self._default is not None and config_key(self._default) not in self._seen:
            self._seen.add(config_key(self._default))
            return Suggestion(self._default, self._budget, origin="default")
        for _ in range(_MAX_DRAWS):
            config = config_to_dict(self._space.sample_configuration())
            key = config_key(config)
            if key not in self._seen:
                self._seen.add(key)
                return Suggestion(config, self._budget, origin="random")
        raise Exhausted(f"random search found no unseen configuration in {_MAX_DRAWS} draws")

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        self._seen.add(config_key(suggestion.config))

    def pending(self, suggestion: Suggestion) -> None:
        self._seen.add(config_key(suggestion.config))

    def n_ready(self) -> int:
        return 1_000_000
