"""The executor protocol: submit trials, poll for the ones that ended, re-attach after a restart.

The result file decides success; an Outcome only explains a job that left no result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial, TrialStatus


@dataclass(frozen=True)
class Handle:
    """A submitted attempt of a trial; ``data`` is what the journal keeps to find the job again."""

    trial_id: str
    attempt: int
    data: dict[str, Any] = field(default_factory=dict)


#: What a scheduler's (or the OS's) word for a job's state means for its trial: the one mapping. SLURM's
#: states plus orch's own: EXITED (a local worker process ended), LOST (not found after a restart) and
#: LAUNCH_FAILED (FAILED before orch's worker started) and HALTED (ended by ``Executor.halt``: the study
#: loop makes its result from its learning curve). An ended job that left no result file is judged
#: by it; COMPLETED then means the job lost its result.
STATE_STATUS: dict[str, TrialStatus] = {
    "PENDING": TrialStatus.PENDING, "REQUEUED": TrialStatus.PENDING, "REQUEUE_HOLD": TrialStatus.PENDING,
    "REQUEUE_FED": TrialStatus.PENDING, "RESV_DEL_HOLD": TrialStatus.PENDING, "SUSPENDED": TrialStatus.RUNNING,
    "RUNNING": TrialStatus.RUNNING, "COMPLETING": TrialStatus.RUNNING, "CONFIGURING": TrialStatus.RUNNING,
    "RESIZING": TrialStatus.RUNNING, "SIGNALING": TrialStatus.RUNNING, "STAGE_OUT": TrialStatus.RUNNING,
    "COMPLETED": TrialStatus.CRASHED, "FAILED": TrialStatus.CRASHED, "OUT_OF_MEMORY": TrialStatus.CRASHED,
    "BOOT_FAIL": TrialStatus.CRASHED, "SPECIAL_EXIT": TrialStatus.CRASHED, "REVOKED": TrialStatus.CANCELLED,
    "DEADLINE": TrialStatus.TIMEOUT, "TIMEOUT": TrialStatus.TIMEOUT, "PREEMPTED": TrialStatus.PREEMPTED,
    "NODE_FAIL": TrialStatus.PREEMPTED, "CANCELLED": TrialStatus.CANCELLED,
    "EXITED": TrialStatus.CRASHED, "LOST": TrialStatus.CRASHED, "LAUNCH_FAILED": TrialStatus.CRASHED,
    "HALTED": TrialStatus.CANCELLED,
}
#: Failures of the machine, not of the trial's code: worth another attempt (up to --max-retries).
RETRYABLE_STATES = frozenset({"TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "REQUEUED", "LOST",
                              "LAUNCH_FAILED"})


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as the scheduler or the OS saw it.

    ``state`` is the scheduler's word (EXITED, COMPLETED, FAILED, TIMEOUT, PREEMPTED, NODE_FAIL,
    CANCELLED, OUT_OF_MEMORY, LOST); ``status`` what it means for a trial that left no result.
    """

    trial_id: str
    attempt: int
    state: str
    exit_code: int | None = None
    detail: str = ""
    job_id: str = ""
    node: str = ""

    @property
    def status(self) -> TrialStatus:
        return STATE_STATUS.get(self.state, TrialStatus.CRASHED)

    @property
    def retryable(self) -> bool:
        return self.state in RETRYABLE_STATES


class Executor(ABC):
    name = "?"
    #: submit a batch known in advance as one unit (a job array) beyond the parallel slots?
    batches = False
    #: on Ctrl-C: cancel running trials (True) or leave them running for a resume (False)
    cancel_on_interrupt = True

    def accepting_batch(self) -> bool:
        """May a new batch (array) be submitted now?"""
        return True

    @property
    def max_array(self) -> int:
        """The largest batch one submission may hold."""
        return 1_000_000

    @abstractmethod
    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        """Start the trials (at most ``throttle`` of a batch at once); return one handle each."""

    @abstractmethod
    def poll(self) -> list[Outcome]:
        """The attempts that ended since the last poll."""

    @abstractmethod
    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        """Follow a job submitted by an earlier controller; None if it is gone."""

    def halt(self, trial_id: str) -> None:
        """End one running attempt early (its strategy stopped or paused it): SIGTERM to a local process
        group, scancel on SLURM. The job's checkpoint stays; poll() then reports the attempt as HALTED
        (or COMPLETED, when its result landed first)."""
        raise NotImplementedError(f"the {self.name} executor cannot halt a running trial")

    @abstractmethod
    def stop(self, cancel: bool) -> None:
        """Leave: cancel the running trials, or detach from them so that a resume re-attaches."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Attempts submitted and not yet reported by poll()."""

    def poll_interval(self) -> float:
        return 0.2

    def close(self) -> None:
        """Release resources (threads, watchers)."""


def tail(path: Any, lines: int = 20, limit: int = 4000) -> str:
    """The last lines of a log file, or '' when there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = "\n".join(data.splitlines()[-lines:])
    return text[-limit:]
