"""Learning curves of running trials: the study loop's view of intermediate results.

For a strategy that acts on them (``Optimizer.uses_curves``: asha, meta-asha), every poll reads the new
lines of each running trial's progress.jsonl from the shared filesystem (no network), gives each new
epoch's objective to the strategy, journals it with the strategy's decision, and halts a trial the
strategy stops or pauses (``Executor.halt``: SIGTERM to a local process group, scancel on SLURM; the
checkpoint stays). Once the halted job has ended, its result is made from its last reported epoch: a
SUCCESS whose objective is the value there, whose budget is that epoch and whose ``halted`` says
"stopped" or "paused". A study with a cost budget (``max_cost``, training seconds) halts what runs when
the budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import StoreCorrupt
from orchestrator.executors.base import Executor, Outcome
from orchestrator.optimizers.base import CONTINUE, PAUSE, STOP, Optimizer, Suggestion
from orchestrator.store.atomic import read_json
from orchestrator.store.progress import ProgressPoint, optional_float, read_points
from orchestrator.store.study import StudyStore, TrialRecord
from orchestrator.trial import Trial, TrialResult, TrialStatus

HALTED_AS = {STOP: "stopped", PAUSE: "paused"}


@dataclass
class _Watch:
    attempt: int
    offset: int = 0
    last_epoch: float = -math.inf  # the last epoch given to the strategy
    last: ProgressPoint | None = None  # the last point read (with the objective)
    halt: str = ""  # the decision that halted it: STOP or PAUSE


class CurveWatch:
    """The intermediate results of a study's running trials (one per StudyLoop)."""

    def __init__(self, store: StudyStore, executor: Executor, optimizer: Optimizer,
                 suggestion: Callable[[Trial], Suggestion], clock: Callable[[], float],
                 max_cost: float | None = None) -> None:
        self.store = store
        self.task = store.spec.task
        self.executor = executor
        self.optimizer = optimizer
        self.suggestion = suggestion
        self.clock = clock
        self.max_cost = max_cost
        self.spent = 0.0  # training seconds of the finished trials
        self._watch: dict[str, _Watch] = {}

    @property
    def active(self) -> bool:
        return self.optimizer.uses_curves or self.max_cost is not None

    # --- following trials -------------------------------------------------------------------------

    def follow(self, trial: Trial, rec: TrialRecord | None = None) -> None:
        """Watch a submitted (or re-attached) attempt; a record replayed from the journal says which of
        its epochs the strategy has had and whether it was halted. A retried attempt appends to the same
        progress file: the epochs it redoes from its checkpoint are not given to the strategy twice."""
        w = self._watch.get(trial.trial_id)
        if w is not None:
            w.attempt = trial.attempt
            return
        w = _Watch(trial.attempt)
        if rec is not None:
            w.last_epoch = max((e for _, e, _ in rec.points), default=-math.inf)
            w.halt = rec.halt
        self._watch[trial.trial_id] = w

    def forget(self, trial_id: str) -> None:
        self._watch.pop(trial_id, None)

    def halting(self, trial_id: str) -> bool:
        w = self._watch.get(trial_id)
        return w is not None and bool(w.halt)

    def add_cost(self, result: TrialResult) -> None:
        self.spent += result.wall_seconds

    def poll(self, in_flight: dict[str, Trial]) -> bool:
        """Read every running trial's new epochs, give them to the strategy, halt on its word. Returns
        True when the cost budget is spent (nothing new should start)."""
        if not self.active:
            return False
        running = 0.0
        for tid, trial in list(in_flight.items()):
            if tid not in self._watch or self._watch[tid].attempt != trial.attempt:
                self.follow(trial)
            w = self._watch[tid]
            paths = self.store.trial_paths(tid)
            points, w.offset = read_points(paths.progress, w.offset)
            for p in points:
                value = p.metrics.get(self.task.objective)
                if value is None:
                    continue
                w.last = p  # what a halted trial's result is made of: its last word, also after the halt
                if w.halt or p.epoch <= w.last_epoch:  # halted, or a retried attempt reporting what it redid
                    continue
                w.last_epoch = p.epoch
                decision = CONTINUE
                if self.optimizer.uses_curves:
                    decision = self.optimizer.report(self.suggestion(trial), p.epoch, self.task.cost(value))
                self.store.record_progress(trial, p.epoch, value, decision)
                if decision in (STOP, PAUSE):
                    self._halt(trial, w, decision, f"{self.optimizer.name}: {decision} after epoch {p.epoch:g}")
            if w.last is not None and self.max_cost is not None:  # (its started.json is read only for a budget)
                running += self._seconds(trial, w.last) or 0.0
        spent = self.max_cost is not None and self.spent + running >= self.max_cost
        if spent:
            for tid, trial in in_flight.items():
                w = self._watch[tid]
                if not w.halt:
                    self._halt(trial, w, STOP, "the study's cost budget is spent")
        return spent

    def _halt(self, trial: Trial, w: _Watch, decision: str, reason: str) -> None:
        w.halt = decision
        self.store.record_halt(trial, decision, reason)
        self.executor.halt(trial.trial_id)

    # --- a halted trial's result ------------------------------------------------------------------

    def halted_result(self, trial: Trial, o: Outcome) -> TrialResult:
        """The result of a halted attempt that left none: its last reported epoch (read to the end of its
        progress file: the job may have reported one more before it stopped)."""
        w = self._watch.get(trial.trial_id) or _Watch(trial.attempt)
        points, w.offset = read_points(self.store.trial_paths(trial.trial_id).progress, w.offset)
        for p in points:
            if self.task.objective in p.metrics:
                w.last = p
        decision = w.halt or STOP
        if w.last is None:  # halted before its first epoch: nothing to keep
            return TrialResult(TrialStatus.CANCELLED, error=f"{o.state}: halted before its first epoch",
                               job_id=o.job_id, node=o.node, finished=self.clock(), budget=trial.budget,
                               halted=HALTED_AS[decision])
        p = w.last
        started = self._started(trial)
        seconds = self._seconds(trial, p, ended=self.clock(), started=started) or 0.0
        gpus = float(started.get("gpus") or 0) if started else 0.0
        metrics = {**p.metrics, "epochs": p.epoch}
        return TrialResult(TrialStatus.SUCCESS, objective=p.metrics[self.task.objective], metrics=metrics,
                           wall_seconds=seconds, gpu_hours=seconds * gpus / 3600.0, job_id=o.job_id, node=o.node,
                           started=optional_float(started.get("t")) if started else None, finished=self.clock(),
                           budget=p.epoch, halted=HALTED_AS[decision])

    def _seconds(self, trial: Trial, p: ProgressPoint, ended: float | None = None,
                 started: dict[str, Any] | None = None) -> float | None:
        """Training seconds of the attempt: the job's own count when it gives one, else from the worker's
        start (``started``, else read) to the point's time (now, for a line written without one; ``ended``,
        when the job ended later)."""
        if p.seconds is not None:
            return p.seconds
        started = started if started is not None else self._started(trial)
        t0 = optional_float(started.get("t")) if started else None
        end = ended if ended is not None else p.t if p.t is not None else self.clock()  # a line without its time
        return max(0.0, end - t0) if t0 is not None else None

    def _started(self, trial: Trial) -> dict[str, Any] | None:
        try:
            data = read_json(self.store.trial_paths(trial.trial_id).started, "started.json")
        except (OSError, StoreCorrupt):  # none yet, or corrupt: only the cost figure is the poorer for it
            return None
        return data if isinstance(data, dict) and data.get("attempt") == trial.attempt else None
