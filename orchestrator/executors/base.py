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


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as the scheduler or the OS saw it.

    ``state`` is the scheduler's word (EXITED, COMPLETED, FAILED, TIMEOUT, PREEMPTED, NODE_FAIL,
    CANCELLED, OUT_OF_MEMORY, LOST); ``status`` what it means for a trial that left no result.
    """

    trial_id: str
    attempt: int
    state: str
    status: TrialStatus
    exit_code: int | None = None
    detail: str = ""
    job_id: str = ""
    node: str = ""

    @property
    def retryable(self) -> bool:
        return self.state in ("TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "REQUEUED", "LOST",
                              "LAUNCH_FAILED")


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
