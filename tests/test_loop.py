"""The study loop in process: retries after machine failures, what is not retried, the cap on retries,
first-trials-all-crash, and waiting with an injected clock and sleep. The executor is scripted (each
attempt's fate is set by the test); the store is a real study folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.executors.base import Executor, Handle, Outcome
from orchestrator.optimizers.random import RandomSearch
from orchestrator.space import space_from_yaml, space_to_json
from orchestrator.spec import JobSpec, StudySpec
from orchestrator.store.atomic import atomic_write_json
from orchestrator.store.paths import TrialPaths
from orchestrator.store.study import StudyStore
from orchestrator.task import Task
from orchestrator.trial import Trial, TrialResult, TrialStatus
from orchestrator.tune import StudyLoop, TooManyFailures

SPACE = "x: {type: float, low: 0.0, high: 1.0}\n"


class Scripted(Executor):
    """Each attempt of each trial ends as ``fates[trial_number][attempt]`` says ("ok", "crash", or a
    scheduler state that leaves no result), after ``polls`` polls."""

    name = "scripted"

    def __init__(self, fates: dict[int, list[str]], polls: int = 1) -> None:
        self.fates, self.polls = fates, polls
        self.running: dict[str, tuple[Trial, TrialPaths, int]] = {}
        self.submitted: list[tuple[str, int]] = []

    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        for t, p in zip(trials, paths):
            self.running[t.trial_id] = (t, p, self.polls)
            self.submitted.append((t.trial_id, t.attempt))
        return [Handle(t.trial_id, t.attempt, {"backend": "scripted"}) for t in trials]

    def poll(self) -> list[Outcome]:
        out = []
        for tid, (t, p, left) in list(self.running.items()):
            if left > 1:
                self.running[tid] = (t, p, left - 1)
                continue
            del self.running[tid]
            fate = self.fates.get(int(tid), ["ok"])[min(t.attempt, len(self.fates.get(int(tid), ["ok"])) - 1)]
            if fate in ("ok", "crash"):
                result = (TrialResult(TrialStatus.SUCCESS, objective=t.config["x"]) if fate == "ok"
                          else TrialResult(TrialStatus.CRASHED, error="Traceback ...\nValueError: bad"))
                atomic_write_json(p.result, result.to_dict())
                out.append(Outcome(tid, t.attempt, "EXITED"))
            else:
                out.append(Outcome(tid, t.attempt, fate, detail=f"job ended {fate}"))
        return out

    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        return None

    def stop(self, cancel: bool) -> None:
        self.running.clear()

    @property
    def in_flight(self) -> int:
        return len(self.running)


class FakeTime:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def loop_of(tmp_path: Path, executor: Executor, trials: int = 3, retries: int = 2, parallel: int = 1,
            **kw: Any) -> tuple[StudyLoop, FakeTime]:
    space = space_from_yaml(SPACE)
    spec = StudySpec(name="s", task=Task("command", "d", "loss", True), job=JobSpec("command", command="true"),
                     n_trials=trials, parallel=parallel, max_retries=retries)
    store = StudyStore.create(tmp_path / "root", spec, space_to_json(space))
    t = FakeTime()
    return StudyLoop(store, executor, RandomSearch(space, seed=0), sleep=t.sleep, clock=t.clock, **kw), t


def statuses(loop: StudyLoop) -> list[str]:
    return [loop.records[k].result.status.value for k in sorted(loop.records)]  # type: ignore[union-attr]


def test_machine_failures_are_retried_as_new_attempts(tmp_path: Path) -> None:
    ex = Scripted({0: ["TIMEOUT", "PREEMPTED", "ok"], 1: ["NODE_FAIL", "ok"], 2: ["LAUNCH_FAILED", "ok"]})
    loop, _ = loop_of(tmp_path, ex, retries=2)
    out = loop.run()
    assert out.progress.done == 3 and statuses(loop) == ["SUCCESS"] * 3
    assert ex.submitted == [("0000", 0), ("0000", 1), ("0000", 2), ("0001", 0), ("0001", 1), ("0002", 0), ("0002", 1)]
    assert loop.records["0000"].retries == ["TIMEOUT", "PREEMPTED"]
    events = [e["event"] for e in loop.store.journal.read()]
    assert events.count("retry") == 4


def test_retries_stop_at_max_retries_and_the_trial_keeps_the_schedulers_verdict(tmp_path: Path) -> None:
    ex = Scripted({0: ["TIMEOUT"], 1: ["PREEMPTED"]})
    loop, _ = loop_of(tmp_path, ex, trials=3, retries=1)
    loop.run()
    assert statuses(loop) == ["TIMEOUT", "PREEMPTED", "SUCCESS"]
    r = loop.records["0000"].result
    assert r is not None and r.error.startswith("TIMEOUT: job ended TIMEOUT") and "(after 2 attempts)" in r.error
    assert sum(1 for tid, _ in ex.submitted if tid == "0000") == 2


def test_a_crash_of_the_trials_own_code_is_not_retried(tmp_path: Path) -> None:
    ex = Scripted({0: ["crash", "ok"], 1: ["FAILED"], 2: ["CANCELLED"]})
    loop, _ = loop_of(tmp_path, ex, trials=4, retries=3, max_failures=5)
    loop.run()
    assert statuses(loop) == ["CRASHED", "CRASHED", "CANCELLED", "SUCCESS"]
    assert [a for tid, a in ex.submitted] == [0, 0, 0, 0]


def test_the_first_trials_all_crashing_stop_the_study_with_the_last_error(tmp_path: Path) -> None:
    ex = Scripted({i: ["crash"] for i in range(10)})
    loop, _ = loop_of(tmp_path, ex, trials=10, max_failures=3)
    with pytest.raises(TooManyFailures, match=r"first 3 trials all crashed.*ValueError: bad"):
        loop.run()
    assert len([r for r in loop.records.values() if r.result is not None]) == 3


def test_the_loop_sleeps_the_executors_interval_only_while_nothing_ended(tmp_path: Path) -> None:
    ex = Scripted({}, polls=4)
    loop, t = loop_of(tmp_path, ex, trials=2, parallel=2)
    loop.run()
    assert statuses(loop) == ["SUCCESS", "SUCCESS"]
    assert t.slept == [ex.poll_interval()] * 3  # three empty polls, then both ended at the fourth


def test_trials_left_by_a_killed_controller_that_are_gone_are_lost_and_retried(tmp_path: Path) -> None:
    class Dies(Scripted):
        cancel_on_interrupt = False  # as on SLURM: a controller that goes leaves its jobs running

        def poll(self) -> list[Outcome]:
            raise SystemExit("the controller is killed with its trial in flight")

    first = Dies({})
    loop, _ = loop_of(tmp_path, first, trials=1)
    with pytest.raises(SystemExit):
        loop.run()
    assert first.submitted == [("0000", 0)]
    second = Scripted({})
    again = StudyLoop(StudyStore.open(tmp_path / "root", "s"), second, RandomSearch(space_from_yaml(SPACE), seed=0),
                      sleep=lambda s: None)
    again.run()
    assert second.submitted == [("0000", 1)]  # LOST is retryable: a new attempt of the same trial
    assert statuses(again) == ["SUCCESS"] and again.records["0000"].retries == ["LOST"]
