"""The SLURM executor's own logic in process, with a fake clock and a fake `run` answering for the
scheduler's commands: sacct back-off, the result-file grace period, requeued jobs, launch failures,
array throttles. Only what sacct/squeue/scontrol print is faked; tests/test_slurm_cluster.py and the
contract suite (tests/test_executors.py) drive the real cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.executors.profile import SlurmOptions
from orchestrator.executors.slurm import RESULT_GRACE_S, SlurmExecutor
from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial, TrialStatus


class Scheduler:
    """Answers sacct, squeue and scontrol from per-job states set by the test; records every call."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.queued: set[str] = set()
        self.calls: list[list[str]] = []
        self.sacct_fails = False

    def __call__(self, args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        cmd = args[0]
        if cmd == "sacct":
            if self.sacct_fails:
                return subprocess.CompletedProcess(args, 1, "", "sacct: error: Slurm accounting storage is disabled")
            ids = args[args.index("-j") + 1].split(",")
            rows = [f"{j}|{s}|0:0|node1|00:00:01" for j, s in self.states.items()
                    if j in ids or j.split("_")[0] in ids]
            return subprocess.CompletedProcess(args, 0, "\n".join(rows) + "\n", "")
        if cmd == "squeue":
            ids = args[args.index("-j") + 1].split(",")
            return subprocess.CompletedProcess(args, 0, "".join(f"{j}|PENDING\n" for j in ids if j in self.queued), "")
        if cmd == "scontrol" and args[1] == "show":
            return subprocess.CompletedProcess(args, 0, "MaxArraySize            = 5\n", "")
        return subprocess.CompletedProcess(args, 0, "", "")

    def count(self, cmd: str) -> int:
        return sum(1 for c in self.calls if c[0] == cmd)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def sched(monkeypatch: pytest.MonkeyPatch) -> Scheduler:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    return Scheduler()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def executor(tmp_path: Path, sched: Scheduler, clock: Clock) -> Iterator[SlurmExecutor]:
    ex = SlurmExecutor(SlurmOptions(partition="cpu"), tmp_path / "slurm", parallel=4, run=sched, clock=clock)
    yield ex
    ex.stop(cancel=False)


def follow(ex: SlurmExecutor, tmp_path: Path, job_id: str, attempt: int = 0) -> TrialPaths:
    """A job an earlier controller submitted (re-attached, as on resume)."""
    paths = TrialPaths(tmp_path / "trials" / job_id.replace("_", "-"))
    paths.dir.mkdir(parents=True, exist_ok=True)
    trial = Trial(job_id.replace("_", "-"), {"x": 1}, attempt=attempt)
    assert ex.reattach(trial, paths, {"backend": "slurm", "job_id": job_id}) is not None
    return paths


def write_result(paths: TrialPaths) -> None:
    paths.result.write_text(json.dumps({"status": "SUCCESS", "objective": 1.0}))


def test_sacct_backs_off_while_nothing_changes_and_looks_again_soon_after_a_change(
        executor: SlurmExecutor, sched: Scheduler, clock: Clock, tmp_path: Path) -> None:
    follow(executor, tmp_path, "7")
    sched.states["7"] = "RUNNING"
    seen = []
    for _ in range(120):  # two minutes, polled every second
        before = sched.count("sacct")
        executor.poll()
        if sched.count("sacct") > before:
            seen.append(clock.t)
        clock.t += 1
    gaps = [b - a for a, b in zip(seen, seen[1:])]
    assert gaps[:5] == [2, 4, 8, 16, 20] and set(gaps[5:]) == {20}  # doubling, capped at 20 s
    sched.states["7"] = "COMPLETING"
    while sched.count("sacct") == len(seen):
        executor.poll()
        clock.t += 1
    n = sched.count("sacct")
    for _ in range(3):
        executor.poll()
        clock.t += 1
    assert sched.count("sacct") == n + 1  # a change: back to the shortest interval (2 s)


def test_an_ended_job_gets_a_grace_period_for_its_result_file(executor: SlurmExecutor, sched: Scheduler,
                                                             clock: Clock, tmp_path: Path) -> None:
    paths = follow(executor, tmp_path, "8")
    sched.states["8"] = "COMPLETED"
    assert executor.poll() == []  # sacct says it ended, no result file yet (NFS lags)
    clock.t += RESULT_GRACE_S - 1
    assert executor.poll() == []
    write_result(paths)
    (o,) = executor.poll()
    assert o.state == "COMPLETED" and o.trial_id == "8" and executor.in_flight == 0


def test_an_ended_job_without_a_result_after_the_grace_is_crashed(executor: SlurmExecutor, sched: Scheduler,
                                                                   clock: Clock, tmp_path: Path) -> None:
    follow(executor, tmp_path, "9")
    sched.states["9"] = "COMPLETED"
    assert executor.poll() == []
    clock.t += RESULT_GRACE_S
    (o,) = executor.poll()
    assert o.status is TrialStatus.CRASHED and not o.retryable and "without a result file" in o.detail


def test_a_requeued_node_failure_is_the_same_attempt_not_a_retry(executor: SlurmExecutor, sched: Scheduler,
                                                                 clock: Clock, tmp_path: Path) -> None:
    paths = follow(executor, tmp_path, "10")
    sched.states["10"] = "NODE_FAIL"
    sched.queued.add("10")  # SLURM put it back in the queue itself
    assert executor.poll() == []
    clock.t += RESULT_GRACE_S
    assert executor.poll() == [] and executor.in_flight == 1
    assert sched.count("squeue") == 1
    sched.states["10"], sched.queued = "RUNNING", set()
    clock.t += 30
    assert executor.poll() == []
    write_result(paths)
    (o,) = executor.poll()
    assert o.state == "COMPLETED"


def test_a_node_failure_that_is_not_requeued_is_retryable(executor: SlurmExecutor, sched: Scheduler,
                                                          clock: Clock, tmp_path: Path) -> None:
    follow(executor, tmp_path, "11")
    sched.states["11"] = "NODE_FAIL"
    assert executor.poll() == []  # ended: a grace period for the result file first
    clock.t += RESULT_GRACE_S
    (o,) = executor.poll()
    assert o.state == "NODE_FAIL" and o.retryable and o.status is TrialStatus.PREEMPTED


def test_failed_before_the_worker_started_is_a_launch_failure(executor: SlurmExecutor, sched: Scheduler,
                                                             tmp_path: Path) -> None:
    follow(executor, tmp_path, "12")
    started = follow(executor, tmp_path, "13")
    started.started.write_text(json.dumps({"attempt": 0}))  # orch's worker ran: the trial itself failed
    sched.states.update({"12": "FAILED", "13": "FAILED"})
    by_id = {o.trial_id: o for o in executor.poll()}
    assert by_id["12"].state == "LAUNCH_FAILED" and by_id["12"].retryable
    assert by_id["13"].state == "FAILED" and not by_id["13"].retryable and by_id["13"].status is TrialStatus.CRASHED


def test_a_failing_sacct_is_bypassed(executor: SlurmExecutor, sched: Scheduler, clock: Clock, tmp_path: Path) -> None:
    paths = follow(executor, tmp_path, "14")
    sched.sacct_fails = True
    for _ in range(5):
        assert executor.poll() == []
        clock.t += 30
    write_result(paths)  # the result file decides, whatever sacct says
    (o,) = executor.poll()
    assert o.state == "COMPLETED"


class FakeJob:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


class FakeSubmitit:
    """What submitit's executor returns from map_array: jobs with the ids sbatch gave the array."""

    def __init__(self, array_id: int) -> None:
        self.array_id = array_id

    def map_array(self, fn: Any, dirs: list[str]) -> list[FakeJob]:
        return [FakeJob(f"{self.array_id}_{i}") for i in range(len(dirs))]

    def submit(self, fn: Any, d: str) -> FakeJob:
        return FakeJob(str(self.array_id))


def test_a_later_arrays_throttle_rises_as_earlier_arrays_drain(executor: SlurmExecutor, sched: Scheduler,
                                                               clock: Clock, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter([100, 200])
    throttles: list[int] = []

    def fake_executor(throttle: int) -> FakeSubmitit:
        throttles.append(throttle)
        return FakeSubmitit(next(ids))

    monkeypatch.setattr(executor, "_executor", fake_executor)
    first = [Trial(f"a{i}", {"x": i}) for i in range(3)]
    second = [Trial(f"b{i}", {"x": i}) for i in range(4)]
    paths = {t.trial_id: TrialPaths(tmp_path / "trials" / t.trial_id) for t in first + second}
    for p in paths.values():
        p.dir.mkdir(parents=True)
    executor.submit(first, [paths[t.trial_id] for t in first], throttle=4)
    executor.submit(second, [paths[t.trial_id] for t in second], throttle=4)
    assert throttles == [3, 1]  # the second array may only use the slot the first leaves free
    sched.states.update({f"100_{i}": "RUNNING" for i in range(3)} | {f"200_{i}": "PENDING" for i in range(4)})
    executor.poll()
    assert not any(c[:2] == ["scontrol", "update"] for c in sched.calls)
    for i in range(2):
        write_result(paths[f"a{i}"])
    assert len(executor.poll()) == 2
    update = [c for c in sched.calls if c[:2] == ["scontrol", "update"]]
    assert update == [["scontrol", "update", "JobId=200", "ArrayTaskThrottle=3"]]  # 4 slots, 1 still busy


def test_batches_are_split_at_the_clusters_max_array_size(executor: SlurmExecutor) -> None:
    assert executor.max_array == 5  # scontrol show config, asked once
    assert executor.max_array == 5
    trials = [Trial(f"{i:04d}", {"x": i}) for i in range(6)]
    with pytest.raises(ValueError, match="exceeds MaxArraySize 5"):
        executor.submit(trials, [TrialPaths(Path(f"/nonexistent/{t.trial_id}")) for t in trials], throttle=4)


def test_one_mapping_of_options_to_sbatch_parameters() -> None:
    """Flags for --test-only, #SBATCH lines of the templates, the detached controller's subset and
    submitit's parameters all come from SlurmOptions.sbatch_parameters."""
    from orchestrator.executors.slurm import CONTROLLER_OPTIONS
    from orchestrator.templates import sbatch_lines

    o = SlurmOptions(partition="gpu", gres="gpu:1", gpus_per_node=2, cpus_per_task=4, mem="16G", time="1:00:00",
                     account="a", qos="q", constraint="h100", exclude="n1", job_name="j",
                     sbatch_extra=("--reservation=r", "--exclusive"))
    assert o.sbatch_flags() == ["--partition=gpu", "--gres=gpu:1", "--gpus-per-node=2", "--cpus-per-task=4",
                                "--mem=16G", "--time=1:00:00", "--account=a", "--qos=q", "--constraint=h100",
                                "--exclude=n1", "--job-name=j", "--reservation=r", "--exclusive"]
    assert sbatch_lines(o).splitlines() == [f"#SBATCH {f}" for f in o.sbatch_flags() if not f.startswith("--job-name")]
    assert o.sbatch_flags(only=CONTROLLER_OPTIONS) == ["--partition=gpu", "--mem=16G", "--time=1:00:00",
                                                       "--account=a", "--qos=q"]
