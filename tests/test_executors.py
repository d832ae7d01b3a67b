"""One contract, every executor: the same cases run against the local executor (real worker processes),
the table executor (the benchmark's lookups) and, where the dev cluster is up, SLURM (real sbatch)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.executors.base import Executor, Handle, Outcome
from orchestrator.spec import JobSpec, StudySpec
from orchestrator.store.study import StudyStore
from orchestrator.task import Task
from orchestrator.trial import Trial, TrialResult, TrialStatus

from conftest import SCRIPTS, cluster_down_reason



@dataclass
class Backend:
    name: str
    make: Callable[[StudyStore], Executor]
    timeout: float = 60.0
    instant: bool = False  # trials end as they are submitted (nothing to cancel or re-attach while running)


def _table(store: StudyStore) -> Executor:
    from orchestrator.executors.table import TableExecutor

    def lookup(trial: Trial) -> TrialResult:
        if trial.config["crash"]:
            return TrialResult(TrialStatus.CRASHED, error="trial failed on purpose")
        return TrialResult(TrialStatus.SUCCESS, objective=float(trial.config["x"]))

    return TableExecutor(lookup)


def _local(store: StudyStore) -> Executor:
    from orchestrator.executors.local import LocalExecutor

    return LocalExecutor(parallel=3)


def _slurm(store: StudyStore) -> Executor:
    from orchestrator.executors.profile import SlurmOptions
    from orchestrator.executors.slurm import SlurmExecutor

    return SlurmExecutor(SlurmOptions(partition="cpu", job_name="orch-contract", time="5"), store.paths.slurm, 3)


_cluster = cluster_down_reason()
BACKENDS = [
    pytest.param(Backend("table", _table, instant=True), id="table"),
    pytest.param(Backend("local", _local), id="local"),
    pytest.param(Backend("slurm", _slurm, timeout=120), id="slurm",
                 marks=[pytest.mark.slurm, pytest.mark.skipif(bool(_cluster), reason=_cluster or "cluster up")]),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(tmp_path: Path) -> StudyStore:
    # a trial's config: x, the objective it reports; crash: it fails; sleep: seconds it runs first
    job = JobSpec("command", command=f"{sys.executable} {SCRIPTS / 'contract_trial.py'}", cwd=str(tmp_path))
    spec = StudySpec(name="contract", task=Task("command", "contract", "loss", True), job=job, n_trials=10)
    return StudyStore.create(tmp_path / "root", spec, "{}")


class Run:
    """Trials written to the study folder as the loop writes them, and an executor to run them."""

    def __init__(self, store: StudyStore, backend: Backend) -> None:
        self.store, self.backend = store, backend
        self.executor = backend.make(store)
        self.n = 0

    def trial(self, x: float = 1.0, crash: bool = False, sleep: float = 0.0) -> Trial:
        t = Trial(f"{self.n:04d}", {"x": x, "crash": crash, "sleep": sleep})
        self.n += 1
        self.store.add_trial(t)
        self.store.write_trial_config(t)
        return t

    def submit(self, *trials: Trial) -> list[Handle]:
        return self.executor.submit(list(trials), [self.store.trial_paths(t.trial_id) for t in trials], throttle=3)

    def wait(self, n: int, executor: Executor | None = None) -> list[Outcome]:
        ex = executor or self.executor
        deadline, out = time.time() + self.backend.timeout, []
        while len(out) < n and time.time() < deadline:
            out += ex.poll()
            if len(out) < n:
                time.sleep(ex.poll_interval() or 0.01)
        assert len(out) == n, f"{len(out)} of {n} trials ended within {self.backend.timeout} s"
        return out


@pytest.fixture
def run(store: StudyStore, backend: Backend) -> Iterator[Run]:
    r = Run(store, backend)
    yield r
    r.executor.stop(cancel=True)
    r.executor.close()


def test_a_trial_runs_and_its_result_file_decides(run: Run) -> None:
    t = run.trial(x=0.25)
    (h,) = run.submit(t)
    assert (h.trial_id, h.attempt) == (t.trial_id, 0) and h.data.get("backend") == run.backend.name
    (o,) = run.wait(1)
    assert (o.trial_id, o.attempt) == (t.trial_id, 0)
    r = run.store.read_result(t.trial_id)
    assert r is not None and r.status is TrialStatus.SUCCESS and r.objective == 0.25
    assert run.executor.in_flight == 0 and run.executor.poll() == []  # reported once


def test_a_batch_runs_as_one_submission(run: Run) -> None:
    trials = [run.trial(x=i / 10) for i in range(3)]
    handles = run.submit(*trials)
    assert [h.trial_id for h in handles] == [t.trial_id for t in trials]
    assert sorted(o.trial_id for o in run.wait(3)) == [t.trial_id for t in trials]
    assert [run.store.read_result(t.trial_id).objective for t in trials] == [0.0, 0.1, 0.2]  # type: ignore[union-attr]


def test_a_failing_trial_is_crashed_and_not_retried(run: Run) -> None:
    t = run.trial(crash=True)
    run.submit(t)
    (o,) = run.wait(1)
    r = run.store.read_result(t.trial_id)
    if r is None:  # ended without a result file: the outcome explains it
        assert o.status is TrialStatus.CRASHED and not o.retryable
    else:
        assert r.status is TrialStatus.CRASHED and "on purpose" in r.error


def test_a_new_controller_reattaches_to_a_running_trial(run: Run) -> None:
    t = run.trial(x=0.5, sleep=0 if run.backend.instant else 3)
    (h,) = run.submit(t)
    run.executor.stop(cancel=False)  # the controller leaves; the trial keeps running
    assert run.executor.in_flight == 0
    later = run.backend.make(run.store)
    try:
        assert later.reattach(t, run.store.trial_paths(t.trial_id), h.data) is not None
        (o,) = run.wait(1, later)
        assert o.trial_id == t.trial_id
        r = run.store.read_result(t.trial_id)
        assert r is not None and r.objective == 0.5
    finally:
        later.stop(cancel=True)
        later.close()


def test_a_handle_of_another_backend_is_not_reattached(run: Run) -> None:
    t = run.trial()
    assert run.executor.reattach(t, run.store.trial_paths(t.trial_id), {"backend": "elsewhere"}) is None


def test_cancel_stops_running_trials_without_a_result(run: Run) -> None:
    if run.backend.instant:
        pytest.skip("a lookup has ended before it could be cancelled")
    t = run.trial(sleep=60)
    run.submit(t)
    time.sleep(1.0)
    run.executor.stop(cancel=True)
    assert run.executor.in_flight == 0
    time.sleep(1.0)
    assert run.store.read_result(t.trial_id) is None
