"""The study loop: ask -> submit -> poll -> tell -> record. No printing: events go to a Reporter.

The loop keeps no state that the study folder does not also hold. Resume replays the journal into
a fresh optimiser, collects results that landed while no controller ran, re-attaches to jobs still
running, and goes on until the study has exactly ``n_trials`` finished trials. A strategy that acts on
learning curves also gets each running trial's epochs and halts trials on them (``curves.CurveWatch``).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from orchestrator.curves import CurveWatch
from orchestrator.errors import OrchError
from orchestrator.executors.base import Executor, Outcome
from orchestrator.optimizers.base import Exhausted, Optimizer, Suggestion, config_key
from orchestrator.store.export import export_study
from orchestrator.store.study import StudyStore, TrialRecord
from orchestrator.trial import Trial, TrialResult, TrialStatus, format_trial_id


class Reporter(Protocol):
    def started(self, store: StudyStore, resumed: bool, notes: list[str]) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def trial_finished(self, trial: Trial, result: TrialResult) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, outcome: TuneOutcome) -> None: ...


class NullReporter:
    def started(self, store: StudyStore, resumed: bool, notes: list[str]) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def trial_finished(self, trial: Trial, result: TrialResult) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, outcome: TuneOutcome) -> None: ...


@dataclass
class Progress:
    target: int
    done: int = 0
    running: int = 0
    failed: int = 0
    crashed: int = 0
    best_value: float | None = None
    best_config: dict[str, Any] | None = None
    best_trial: str | None = None


@dataclass
class TuneOutcome:
    study: str
    progress: Progress
    interrupted: bool = False
    stop_reason: str = ""
    best: TrialRecord | None = None
    notes: list[str] = field(default_factory=list)


class TooManyFailures(OrchError):
    exit_code = 1


@contextmanager
def _sigterm_as_interrupt(enabled: bool = True) -> Iterator[None]:
    """`scancel` of a detached controller sends SIGTERM: stop as cleanly as on Ctrl-C."""
    if not enabled:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StudyLoop:
    def __init__(self, store: StudyStore, executor: Executor, optimizer: Optimizer,
                 reporter: Reporter | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, max_failures: int | None = None,
                 export_interval: float = 1.0, cancel_on_interrupt: bool | None = None,
                 retry_crashed: bool = False, sigterm_stops: bool = True, max_cost: float | None = None) -> None:
        """``sigterm_stops=False``: SIGTERM keeps its default action (a benchmark's worker process dies
        with its controller) instead of stopping the study cleanly. ``max_cost``: training seconds the
        study may spend (finished and running trials together); then running trials are halted and
        nothing new starts."""
        self.store = store
        self.spec = store.spec
        self.executor = executor
        self.optimizer = optimizer
        self.reporter: Reporter = reporter or NullReporter()
        self.sleep = sleep
        self.clock = clock
        self.max_failures = max_failures if max_failures is not None else min(5, self.spec.n_trials)
        self.retry_crashed = retry_crashed
        self.sigterm_stops = sigterm_stops
        self._run_ok = self._run_crashed = 0  # trials finished since this controller started
        self.export_interval = export_interval
        self.cancel_on_interrupt = executor.cancel_on_interrupt if cancel_on_interrupt is None else cancel_on_interrupt
        self.records: dict[str, TrialRecord] = {}
        self.in_flight: dict[str, Trial] = {}
        self.retry_queue: list[Trial] = []
        self.progress = Progress(target=self.spec.n_trials)
        self.exhausted = ""
        self._last_export = 0.0
        self._dirty = False
        self._next_number = 0
        self._resumed = False
        self.curves = CurveWatch(store, executor, optimizer, _suggestion, clock, max_cost)
        self._curves_read: dict[str, list[tuple[float, float]]] = {}  # finished trials' curves, for export

    # --- public ---------------------------------------------------------------------------------

    def run(self, notes: list[str] | None = None) -> TuneOutcome:
        notes = list(notes or [])
        outcome = TuneOutcome(self.spec.name, self.progress, notes=notes)
        with self.store.locked(), _sigterm_as_interrupt(self.sigterm_stops):
            resumed = self._resumed = self._restore()
            self.reporter.started(self.store, resumed, notes)
            self.store.journal.append("resumed" if resumed else "started", target=self.spec.n_trials)
            try:
                self._loop()
            except KeyboardInterrupt:
                outcome.interrupted = True
                outcome.stop_reason = "interrupted"
            except BaseException as e:
                outcome.stop_reason = f"error: {e}"
                self._leave(cancel=self.executor.cancel_on_interrupt, reason=outcome.stop_reason)
                raise
            else:
                outcome.stop_reason = self.exhausted or "done"
                if self.spec.multi_fidelity:
                    self._clean_checkpoints()
            finally:
                if outcome.interrupted:
                    self._leave(cancel=self.cancel_on_interrupt, reason="interrupted")
                self._export(force=True)
                self.optimizer.close()
                self.executor.close()
        outcome.best = self.best_record()
        self.reporter.finished(outcome)
        return outcome

    def best_record(self) -> TrialRecord | None:
        """The best finished trial; in a multi-fidelity study, or one whose trials are halted on their
        learning curves, among those at the highest budget (epochs) reached (as `orch results` judges it: a
        1-epoch score does not compete with a 27-epoch one)."""
        task = self.spec.task
        best: TrialRecord | None = None
        done = [rec for rec in self.records.values()
                if rec.result is not None and rec.result.ok and rec.result.objective is not None]
        if self.spec.multi_fidelity or self.optimizer.uses_curves:
            top = max((b for rec in done if (b := _reached(rec)) is not None), default=None)
            if top is not None:
                done = [rec for rec in done if (b := _reached(rec)) is not None and b >= top - 1e-9]
        for rec in done:
            r = rec.result
            if best is None or task.better(r.objective, best.result.objective):  # type: ignore[union-attr, arg-type]
                best = rec
        return best

    # --- restore --------------------------------------------------------------------------------

    def _restore(self) -> bool:
        state = self.store.state()
        self.records = state.records
        again = 0
        if self.retry_crashed:
            again = self._run_again([rec for rec in self.records.values()
                                     if rec.result is not None and rec.result.status is TrialStatus.CRASHED])
        self._next_number = state.next_trial_number()
        if self.optimizer.uses_curves:
            self._replay_curves(state.events)
        for rec in self.records.values():
            sug = _suggestion(rec.trial)
            if rec.result is not None:
                if not self.optimizer.uses_curves:
                    self.optimizer.tell(sug, self._cost(rec.result))
                self._count(rec.trial, rec.result)
                self.curves.add_cost(rec.result)
            elif not self.optimizer.uses_curves:
                self.optimizer.pending(sug)
        for rec in list(self.records.values()):
            if rec.result is not None:
                continue
            result = self.store.read_result(rec.trial.trial_id)
            if result is not None and self.retry_crashed and result.status is TrialStatus.CRASHED:
                again += self._run_again([rec])  # crashed while no controller was running: queued below
                result = None
            trial = rec.trial
            if result is not None:  # finished while no controller was running
                self._finish(trial, result)
            elif rec.handle is None:  # asked, never submitted (or a crashed trial to run again)
                self.retry_queue.append(trial)
            else:
                paths = self.store.trial_paths(trial.trial_id)
                self.curves.follow(trial, rec)
                if self.executor.reattach(trial, paths, rec.handle) is not None:
                    self.in_flight[trial.trial_id] = trial
                    if rec.halt:  # halted by the killed controller, perhaps not ended yet: halt it again
                        self.executor.halt(trial.trial_id)
                else:
                    self.in_flight[trial.trial_id] = trial
                    self._on_outcome(Outcome(trial.trial_id, trial.attempt, "LOST",
                                             detail="job not found after the controller restarted"))
        if again:
            self.reporter.note(f"{again} crashed trials run again")
        self.progress.running = len(self.in_flight)
        return bool(self.records)

    def _replay_curves(self, events: list[tuple[str, str, Any]]) -> None:
        """A strategy that acts on learning curves is rebuilt from the journal in its order: each ask, each
        epoch it was given and each result, as the killed controller gave them."""
        last = {tid: i for i, (kind, tid, _) in enumerate(events) if kind == "finished"}
        for i, (kind, tid, data) in enumerate(events):
            rec = self.records[tid]
            sug = _suggestion(rec.trial)
            if kind == "asked":
                self.optimizer.pending(sug)
            elif kind == "progress":
                self.optimizer.report(sug, data[0], self.spec.task.cost(data[1]))
            elif last[tid] == i and rec.result is not None:
                self.optimizer.tell(sug, self._cost(rec.result))

    def _run_again(self, crashed: list[TrialRecord]) -> int:
        """`--retry-crashed`: crashed trials run again as a new attempt of the same trial (the crashed
        attempt's result is kept beside it), e.g. after fixing what made them crash."""
        for rec in crashed:
            self.store.record_retry(rec.trial, "CRASHED: run again (--retry-crashed)")
            rec.retries.append("CRASHED")
            rec.trial, rec.result, rec.handle = rec.trial.retried(), None, None
        return len(crashed)

    # --- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._submit_more()
            if not self.in_flight and not self.retry_queue and (self._remaining() <= 0 or self.exhausted):
                break
            outcomes = self.executor.poll()
            if self.curves.poll(self.in_flight) and not self.exhausted:
                self.exhausted = "the cost budget is spent"
            for o in outcomes:
                self._on_outcome(o)
            self._check_failures()
            self._export()
            if not outcomes:
                self.sleep(self.executor.poll_interval())

    def _remaining(self) -> int:
        """Trials still to ask: the target minus finished, in flight and queued for (re)submission."""
        return self.spec.n_trials - self.progress.done - len(self.in_flight) - len(self.retry_queue)

    def _slots(self) -> int:
        return self.spec.parallel - len(self.in_flight)

    def _submit_more(self) -> None:
        limit = self.executor.max_array
        slots = self._slots()
        ready = self.optimizer.n_ready() if self.executor.batches else 0
        # a batch known in advance goes out as one array (throttled by the executor); otherwise
        # only as many trials as there are free slots: model-based asks wait for results
        as_batch = ready > 1 and slots > 0 and self.executor.accepting_batch()
        room = limit if as_batch else min(slots, limit)
        if ready > 1 and not as_batch:
            room = 0  # the next array goes out once the current one has started: no trickle of tiny jobs
        batch = self.retry_queue[:max(0, room)]
        del self.retry_queue[:len(batch)]
        n_new = 0
        remaining = self._remaining() - len(batch)  # the retries taken from the queue are not in flight yet
        if remaining > 0 and not self.exhausted:
            n_new = min(ready if as_batch else room, room) - len(batch)
            n_new = min(n_new, remaining)
        for _ in range(max(0, n_new)):
            try:
                sug = self.optimizer.ask()
            except Exhausted as e:
                self.exhausted = f"exhausted: {e}"
                self.reporter.note(f"{self.optimizer.name}: {e}; stopping after the trials in flight")
                break
            trial = Trial(format_trial_id(self._next_number), sug.config, sug.budget if sug.budget is not None
                          else self.spec.budget, self.spec.seed if sug.seed is None else int(sug.seed), 0, sug.origin)
            self._next_number += 1
            source = self._promotion_source(trial)
            if source is not None:
                trial = replace(trial, continues=source.trial.trial_id)
            self.store.add_trial(trial)
            self.records[trial.trial_id] = TrialRecord(trial=trial)
            batch.append(trial)
        if batch:
            self._submit(batch)

    def _promotion_source(self, trial: Trial) -> TrialRecord | None:
        """The trial whose checkpoint a promotion continues: the same configuration's finished trial that
        reached the most epochs below this one's budget (a Hyperband promotion, or a paused trial that its
        strategy resumes: freeze-thaw), when its checkpoint is there."""
        if not (self.spec.multi_fidelity or self.optimizer.uses_curves) or trial.budget is None:
            return None
        key = config_key(trial.config)
        best: TrialRecord | None = None
        for rec in self.records.values():
            b = _reached(rec)
            if (rec.result is not None and rec.result.ok and b is not None and b < trial.budget
                    and config_key(rec.trial.config) == key and (best is None or b > (_reached(best) or 0))):
                best = rec
        if best is None or not self.store.trial_paths(best.trial.trial_id).checkpoint.is_dir():
            return None
        return best

    def _clean_checkpoints(self) -> None:
        """At the end of a multi-fidelity study nothing will be promoted any more."""
        import shutil

        for rec in self.records.values():
            if rec.result is not None:
                shutil.rmtree(self.store.trial_paths(rec.trial.trial_id).checkpoint, ignore_errors=True)

    def _submit(self, trials: list[Trial]) -> None:
        for t in trials:  # a retry or an unsubmitted trial from before a restart: config again
            if not self.store.trial_paths(t.trial_id).config.exists() or t.attempt > 0:
                self.store.write_trial_config(t)
        paths = [self.store.trial_paths(t.trial_id) for t in trials]
        handles = self.executor.submit(trials, paths, throttle=self.spec.parallel)
        for t, h in zip(trials, handles):
            self.curves.follow(t)
            self.store.record_submitted(t, h.data)
            self.records[t.trial_id].handle = h.data
            self.records[t.trial_id].trial = t
            self.in_flight[t.trial_id] = t
        self.progress.running = len(self.in_flight)
        self.reporter.progress(self.progress)

    def _on_outcome(self, o: Outcome) -> None:
        trial = self.in_flight.pop(o.trial_id, None)
        if trial is None or trial.attempt != o.attempt:
            if trial is not None:
                self.in_flight[o.trial_id] = trial
            return
        result = self.store.read_result(trial.trial_id)
        if result is None and self.curves.halting(trial.trial_id):  # halted on its learning curve
            result = self.curves.halted_result(trial, o)
            self.store.write_result(trial.trial_id, result)
        if result is None:
            if o.retryable and trial.attempt < self.spec.max_retries:
                self.store.record_retry(trial, f"{o.state}: {o.detail}"[:500])
                self.records[trial.trial_id].retries.append(o.state)
                self.reporter.note(f"trial {trial.trial_id}: {o.state.lower()} on attempt {trial.attempt + 1}, retrying")
                self.retry_queue.append(trial.retried())
                self.progress.running = len(self.in_flight)
                return
            status = o.status
            error = f"{o.state}: {o.detail}" if o.detail else o.state
            if o.retryable and self.spec.max_retries > 0:
                error = f"{error} (after {trial.attempt + 1} attempts)"
            result = TrialResult(status=status, error=error, job_id=o.job_id, node=o.node, finished=self.clock(),
                                 budget=trial.budget)
            self.store.write_result(trial.trial_id, result)
        elif not result.job_id and o.job_id:
            result = _with_job(result, o)
        self._finish(trial, result)

    def _finish(self, trial: Trial, result: TrialResult) -> None:
        self.in_flight.pop(trial.trial_id, None)
        self.curves.forget(trial.trial_id)
        self.curves.add_cost(result)
        self.store.record_finished(trial, result)
        rec = self.records.setdefault(trial.trial_id, TrialRecord(trial=trial))
        rec.trial, rec.result = trial, result
        self.optimizer.tell(_suggestion(trial), self._cost(result))
        self._count(trial, result)
        self._run_ok += result.ok
        self._run_crashed += result.status is TrialStatus.CRASHED
        self.progress.running = len(self.in_flight)
        self._dirty = True
        self.reporter.trial_finished(trial, result)
        self.reporter.progress(self.progress)

    def _count(self, trial: Trial, result: TrialResult) -> None:
        p = self.progress
        p.done += 1
        if not result.ok:
            p.failed += 1
            p.crashed += result.status is TrialStatus.CRASHED
            return
        assert result.objective is not None
        if p.best_value is None or self.spec.task.better(result.objective, p.best_value):
            p.best_value, p.best_config, p.best_trial = result.objective, trial.config, trial.trial_id

    def _cost(self, result: TrialResult) -> float | None:
        return self.spec.task.cost(result.objective) if result.ok and result.objective is not None else None

    def _check_failures(self) -> None:
        # the first trials since the controller started all crashed (cancellations are not the job's
        # fault): a broken job or environment (a dataset not found, a missing module), also on a resume
        if self._run_ok == 0 and self._run_crashed >= self.max_failures:
            last = next((r.result for r in reversed(list(self.records.values()))
                         if r.result is not None and r.result.status is TrialStatus.CRASHED), None)
            detail = (last.error.strip().splitlines() or [""])[-1] if last else ""
            raise TooManyFailures(
                f"study '{self.spec.name}': the first {self._run_crashed} trials {'of this run ' if self._resumed else ''}"
                f"all crashed, stopping "
                f"(last error: {detail[:300]}); see {self.store.paths.trials_csv}"
            )

    def _export(self, force: bool = False) -> None:
        now = self.clock()
        if force or (self._dirty and now - self._last_export >= self.export_interval):
            export_study(self.store, self.records.values(), self._curves_read)
            self._last_export, self._dirty = now, False

    def _leave(self, cancel: bool, reason: str) -> None:
        try:
            self.executor.stop(cancel=cancel)
        finally:
            self.store.journal.append("stopped", reason=reason, cancelled=cancel, in_flight=sorted(self.in_flight))


def _suggestion(trial: Trial) -> Suggestion:
    return Suggestion(trial.config, trial.budget, trial.origin, trial.seed)


def _reached(rec: TrialRecord) -> float | None:
    """The epochs a finished trial trained to: its result's budget (a halted trial's last epoch)."""
    if rec.result is not None and rec.result.budget is not None:
        return rec.result.budget
    return rec.trial.budget


def _with_job(result: TrialResult, o: Outcome) -> TrialResult:
    return replace(result, job_id=o.job_id, node=result.node or o.node)
