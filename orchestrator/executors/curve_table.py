"""An executor whose jobs replay learning curves from a table, one reported epoch per poll.

The curve benchmark's backend (Syne Tune's simulator backend in miniature): each trial is a configuration's
row of a curves table. Every poll, each running trial "trains" its next reported epoch: it appends the
epoch's objective to progress.jsonl with its simulated training seconds, and saves a checkpoint (the epoch
it reached); at its budget it writes result.json as a job would. A trial that continues a paused or
lower-budget one (``warm_start_from`` in its config.json) starts after that checkpoint's epoch and pays
only for its own epochs. ``halt`` ends a trial at the epoch it reached, so the study loop's stop, pause
and resume run exactly as on a cluster, in simulated time (trials advance one epoch per poll each: the
benchmark runs one trial at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.executors.base import Executor, Handle, Outcome
from orchestrator.store.atomic import atomic_write_json, read_json
from orchestrator.store.paths import TrialPaths
from orchestrator.store.progress import ProgressPoint, append_point, read_points
from orchestrator.trial import Trial, TrialResult, TrialStatus

#: a trial -> (its row, and that row's (epoch, objective, seconds since ``after``) past ``after`` epochs up to
#: the trial's budget), given ``after``, the epoch its checkpoint holds
CurveLookup = Callable[[Trial, float], tuple[int, list[tuple[float, float, float]]]]
CHECKPOINT = "epoch.json"


@dataclass
class _Replay:
    handle: Handle
    paths: TrialPaths
    row: int
    points: list[tuple[float, float, float]]
    done: int = 0  # points emitted


class CurveTableExecutor(Executor):
    name = "curve-table"
    batches = False

    def __init__(self, lookup: CurveLookup, objective: str) -> None:
        self.lookup = lookup
        self.objective = objective
        self._running: dict[str, _Replay] = {}
        self._ended: list[Outcome] = []

    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        handles = []
        for trial, tp in zip(trials, paths):
            tp.dir.mkdir(parents=True, exist_ok=True)
            handle = Handle(trial.trial_id, trial.attempt, {"backend": "curve-table"})
            self._start(trial, tp, handle, self._checkpoint_epoch(tp))
            handles.append(handle)
        return handles

    def _start(self, trial: Trial, tp: TrialPaths, handle: Handle, after: float, done: int = 0) -> None:
        row, points = self.lookup(trial, after)
        self._running[trial.trial_id] = _Replay(handle, tp, row, points, done)

    def _checkpoint_epoch(self, tp: TrialPaths) -> float:
        """The epoch training starts after: this trial's own checkpoint (a retried attempt), else the one
        it continues (``warm_start_from``), else 0."""
        own = tp.checkpoint / CHECKPOINT
        if own.exists():
            return float(read_json(own, "checkpoint")["epoch"])
        return self._source_epoch(tp)

    @staticmethod
    def _source_epoch(tp: TrialPaths) -> float:
        """The epoch of the checkpoint the trial continues (``warm_start_from``), else 0."""
        source = read_json(tp.config, "trial config").get("warm_start_from")
        if source and (Path(source) / CHECKPOINT).exists():
            return float(read_json(Path(source) / CHECKPOINT, "checkpoint")["epoch"])
        return 0.0

    def poll(self) -> list[Outcome]:
        ended, self._ended = self._ended, []
        for tid, run in list(self._running.items()):
            if run.done >= len(run.points):  # nothing to train (a budget at or below its checkpoint)
                del self._running[tid]
                ended.append(self._complete(run))
                continue
            epoch, value, seconds = run.points[run.done]
            run.done += 1
            atomic_write_json(run.paths.checkpoint / CHECKPOINT, {"epoch": epoch})
            append_point(run.paths.progress, ProgressPoint(epoch, {self.objective: value}, attempt=run.handle.attempt,
                                                           seconds=seconds))
            if run.done == len(run.points):
                del self._running[tid]
                ended.append(self._complete(run))
        return ended

    def _complete(self, run: _Replay) -> Outcome:
        h = run.handle
        if run.points:
            epoch, value, seconds = run.points[-1]
            result = TrialResult(TrialStatus.SUCCESS, objective=value, metrics={"row": float(run.row), "epochs": epoch},
                                 wall_seconds=seconds, budget=epoch)
        else:
            result = TrialResult(TrialStatus.CRASHED, error="no epoch to train past its checkpoint")
        atomic_write_json(run.paths.result, result.to_dict())
        return Outcome(h.trial_id, h.attempt, "COMPLETED")

    def halt(self, trial_id: str) -> None:
        run = self._running.pop(trial_id, None)
        if run is not None:
            self._ended.append(Outcome(trial_id, run.handle.attempt, "HALTED", detail="halted by its strategy"))

    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        """A trial of a controller that was killed goes on from the epochs its progress file shows."""
        if data.get("backend") != "curve-table":
            return None
        handle = Handle(trial.trial_id, trial.attempt, dict(data))
        if paths.result.exists():
            self._ended.append(Outcome(trial.trial_id, trial.attempt, "COMPLETED"))
            return handle
        done = [p for p in read_points(paths.progress)[0] if p.attempt in (None, trial.attempt)]
        after = self._source_epoch(paths)
        self._start(trial, paths, handle, after, done=sum(1 for p in done if p.epoch > after))
        return handle

    def stop(self, cancel: bool) -> None:
        self._running.clear()
        self._ended.clear()

    @property
    def in_flight(self) -> int:
        return len(self._running) + len(self._ended)

    def poll_interval(self) -> float:
        return 0.0
