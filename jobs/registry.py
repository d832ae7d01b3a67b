"""The built-in jobs by name. Entries are data; a job's module is imported only when it runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPACES_DIR = Path(__file__).parent / "spaces"


@dataclass(frozen=True)
class JobInfo:
    name: str
    summary: str
    module: str  # exposes run(config, budget, ctx) -> metrics and task_features(options) -> dict
    objective: str
    minimize: bool
    default_epochs: int
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    family: str

    @property
    def space_file(self) -> Path:
        return SPACES_DIR / f"{self.name}.yaml"

    def load(self) -> Any:
        return importlib.import_module(self.module)

    @property
    def run(self) -> Callable[..., dict[str, float]]:
        fn: Callable[..., dict[str, float]] = self.load().run
        return fn


DEFAULT_JOB = "digits-mlp"

JOBS: dict[str, JobInfo] = {
    "digits-mlp": JobInfo(
        name="digits-mlp",
        summary="MLP classifier on scikit-learn's bundled 8x8 digits (1,797 images); the quick default",
        module="jobs.digits", objective="accuracy", minimize=False, default_epochs=20,
        datasets=("sklearn-digits",), metrics=("accuracy", "f1_macro", "f1_micro", "val_loss"), family="mlp",
    ),
    "branin": JobInfo(
        name="branin",
        summary="the Branin function (instant, synthetic): for measuring orch itself, not a training job",
        module="jobs.synthetic", objective="loss", minimize=True, default_epochs=1,
        datasets=("synthetic",), metrics=("loss",), family="synthetic",
    ),
}


def get_job(name: str) -> JobInfo:
    from orchestrator.errors import ConfigError

    try:
        return JOBS[name]
    except KeyError:
        raise ConfigError(f"--job: unknown job '{name}' (built-in jobs: {', '.join(sorted(JOBS))})") from None


def presets() -> dict[str, Path]:
    return {name: info.space_file for name, info in JOBS.items()}
