"""What a running job gets besides its configuration: where to write, budget, seed, checkpoints."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def cuda_visible_devices(value: str) -> list[str]:
    """The devices a CUDA_VISIBLE_DEVICES value names (empty, -1 or NoDevFiles: none)."""
    value = value.strip()
    if value in ("", "-1", "NoDevFiles"):
        return []
    return [d.strip() for d in value.split(",") if d.strip()]


class Stopped(BaseException):
    """SIGTERM arrived: the scheduler (or the user) stopped this attempt; it leaves no result."""


@dataclass(frozen=True)
class JobContext:
    trial_id: str
    trial_dir: Path
    budget: float | None
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0

    @property
    def checkpoint_dir(self) -> Path:
        return self.trial_dir / "checkpoint"

    @property
    def progress_file(self) -> Path:
        """Where the job's intermediate results go, one JSON line per epoch (orch's store reads them)."""
        return self.trial_dir / "progress.jsonl"

    def report(self, epoch: int | float, metrics: dict[str, float]) -> None:
        """Report the metrics after ``epoch`` epochs: one line appended in a single write (O_APPEND) and
        fsync'd, so the controller, polling the shared filesystem, never reads half of it. Call it after
        the epoch's checkpoint is saved: an epoch the controller has seen can always be continued."""
        line = {"epoch": epoch, "attempt": self.attempt, "t": round(time.time(), 3),
                "metrics": {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}}
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.progress_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def cpus(self) -> int:
        """CPUs this trial may use: SLURM's allocation, else the local executor's share."""
        for var in ("SLURM_CPUS_PER_TASK", "ORCH_CPUS"):
            value = os.environ.get(var, "")
            if value.isdigit() and int(value) > 0:
                return int(value)
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))

    @property
    def gpus(self) -> int:
        """GPUs allocated to this trial (what GPU-hours are billed by)."""
        return len(cuda_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES", "")))

    def epochs(self, default: int, config: dict[str, Any] | None = None) -> int:
        """The epoch budget: the trial's budget (--epochs, or the strategy's fidelity), else an ``epochs``
        hyperparameter, else the job's default."""
        if self.budget is not None:
            return max(1, int(round(self.budget)))
        if config and config.get("epochs") is not None:
            return max(1, int(config["epochs"]))
        if self.options.get("epochs"):  # a study recorded before --epochs became the trials' budget
            return max(1, int(self.options["epochs"]))
        return default
