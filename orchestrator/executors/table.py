"""An executor whose jobs are lookups: each trial's result comes from a table at once.

The benchmark's backend (as Syne Tune's simulator backend is its own): `orch bench run` drives the real
study loop, store and optimisers with it, so a benchmark figure is a figure of `orch tune`. The result
is written to the trial's result.json as a job would write it, and the loop reads it from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.executors.base import Executor, Handle, Outcome
from orchestrator.store.atomic import atomic_write_json
from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial, TrialResult


class TableExecutor(Executor):
    name = "table"
    batches = False

    def __init__(self, lookup: Callable[[Trial], TrialResult]) -> None:
        self.lookup = lookup
        self._ended: list[Outcome] = []

    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        handles = []
        for trial, tp in zip(trials, paths):
            tp.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(tp.result, self.lookup(trial).to_dict())
            handles.append(Handle(trial.trial_id, trial.attempt, {"backend": "table"}))
            self._ended.append(Outcome(trial.trial_id, trial.attempt, "COMPLETED"))
        return handles

    def poll(self) -> list[Outcome]:
        ended, self._ended = self._ended, []
        return ended

    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        if data.get("backend") != "table":
            return None
        handle = Handle(trial.trial_id, trial.attempt, dict(data))
        self._ended.append(Outcome(trial.trial_id, trial.attempt, "COMPLETED" if paths.result.exists() else "LOST"))
        return handle

    def stop(self, cancel: bool) -> None:
        self._ended.clear()

    @property
    def in_flight(self) -> int:
        return len(self._ended)

    def poll_interval(self) -> float:
        return 0.0
