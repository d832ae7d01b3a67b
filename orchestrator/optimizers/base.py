"""The ask/tell protocol every strategy implements (pure: no files, no clocks, no printing)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from orchestrator.trial import Config


@dataclass(frozen=True)
class Suggestion:
    """A configuration to evaluate. ``seed`` is the optimiser's instance seed where it has one."""

    config: Config
    budget: float | None = None
    origin: str = ""
    seed: int | None = None


#: a strategy's word on a running trial's intermediate result (``Optimizer.report``)
CONTINUE, STOP, PAUSE = "continue", "stop", "pause"
DECISIONS = (CONTINUE, STOP, PAUSE)


class Exhausted(Exception):
    """The strategy has nothing left to propose (a finished grid, a space with no unseen point)."""


class Optimizer(ABC):
    """ask() proposes, tell() learns. Several asks may be in flight before their tells.

    On resume a fresh optimiser is rebuilt by calling ``tell`` for every finished trial and
    ``pending`` for every trial still running, in the order they were asked.
    """

    name: str = "?"
    #: acts on intermediate results: the loop gives it every epoch a running trial reports (``report``)
    #: and halts the trials it stops or pauses; on resume it replays asks (``pending``), reports and
    #: tells in the order the journal recorded them
    uses_curves: bool = False

    @abstractmethod
    def ask(self) -> Suggestion:
        """The next configuration; raises Exhausted when there is none."""

    @abstractmethod
    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        """``cost`` is minimised; None means the trial crashed (the optimiser imputes a cost)."""

    def pending(self, suggestion: Suggestion) -> None:
        """A suggestion asked by an earlier controller and still running (replayed on resume)."""

    def report(self, suggestion: Suggestion, epoch: float, cost: float) -> str:
        """A running trial's intermediate result: its ``cost`` after ``epoch`` epochs. Returns CONTINUE,
        STOP (halt it for good) or PAUSE (halt it, its checkpoint kept, to be continued by a later
        suggestion of the same configuration)."""
        return CONTINUE

    def n_ready(self) -> int:
        """How many suggestions can be made now that do not depend on results still to come.

        The loop submits that many at once (as a job array on SLURM)."""
        return 0

    def close(self) -> None:
        """Release temporary resources."""


def config_key(config: Config, budget: float | None = None) -> str:
    return json.dumps({"c": config, "b": budget}, sort_keys=True, default=str)


def impute_crash_cost(costs: list[float]) -> float | None:
    """Crashed trials count as the worst cost seen so far: finite, so the surrogate keeps working."""
    return max(costs) if costs else None


def as_plain_config(values: dict[str, Any]) -> Config:
    from orchestrator.space import config_to_dict

    return config_to_dict(values)
