"""Where everything of a study lives under the results root (DESIGN.md's layout, in one place)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def check_study_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"--study: invalid study name {name!r} (letters, digits, '.', '_', '-'; at most 128 characters)"
        )
    return name


@dataclass(frozen=True)
class TrialPaths:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def result(self) -> Path:
        return self.dir / "result.json"

    @property
    def started(self) -> Path:
        """Written by the worker before the trial's code runs (which attempt, job, node)."""
        return self.dir / "started.json"

    @property
    def metrics(self) -> Path:
        """Where a command job writes its metrics ($ORCH_RESULT_FILE)."""
        return self.dir / "metrics.json"

    @property
    def progress(self) -> Path:
        """The trial's intermediate results, one JSON line per epoch ($ORCH_PROGRESS_FILE)."""
        return self.dir / "progress.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint"

    @property
    def stdout(self) -> Path:
        return self.dir / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.dir / "stderr.log"


@dataclass(frozen=True)
class StudyPaths:
    root: Path
    name: str

    @property
    def dir(self) -> Path:
        return self.root / "studies" / self.name

    @property
    def study(self) -> Path:
        return self.dir / "study.json"

    @property
    def space(self) -> Path:
        return self.dir / "space.json"

    @property
    def journal(self) -> Path:
        return self.dir / "journal.jsonl"

    @property
    def trials_dir(self) -> Path:
        return self.dir / "trials"

    @property
    def trials_csv(self) -> Path:
        return self.dir / "trials.csv"

    @property
    def slurm(self) -> Path:
        return self.dir / "slurm"

    @property
    def lock(self) -> Path:
        return self.dir / ".controller.lock"

    @property
    def metadataset(self) -> Path:
        return self.root / "metadataset" / f"{self.name}.csv"

    def trial(self, trial_id: str) -> TrialPaths:
        return TrialPaths(self.trials_dir / trial_id)


def studies_dir(root: Path) -> Path:
    return root / "studies"


def metadataset_dir(root: Path) -> Path:
    return root / "metadataset"
