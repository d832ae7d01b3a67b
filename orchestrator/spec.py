"""StudySpec and JobSpec: what study.json holds, as frozen records (pure)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orchestrator.task import Task

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class JobSpec:
    """How a trial runs: a built-in job by name, or the user's own shell command."""

    kind: str  # "builtin" | "command"
    name: str = ""
    command: str = ""
    cwd: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name if self.kind == "builtin" else "command"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        kind = str(d["kind"])
        if kind not in ("builtin", "command"):
            raise ValueError(f"job kind must be builtin or command, got {kind!r}")
        return cls(kind=kind, name=str(d.get("name", "")), command=str(d.get("command", "")),
                   cwd=str(d.get("cwd", "")), options=dict(d.get("options") or {}))


@dataclass(frozen=True)
class StudySpec:
    """Everything that defines a study; written once to study.json (``n_trials`` may grow on resume)."""

    name: str
    task: Task
    job: JobSpec
    strategy: str = "smac"
    seed: int = 0
    n_trials: int = 20
    parallel: int = 1
    max_retries: int = 2
    budget: float | None = None
    min_budget: float | None = None
    max_budget: float | None = None
    executor: dict[str, Any] = field(default_factory=lambda: {"kind": "local"})
    strategy_options: dict[str, Any] = field(default_factory=dict)
    meta_roots: tuple[str, ...] = ()
    created: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION

    @property
    def multi_fidelity(self) -> bool:
        """Budgets vary per trial (hyperband, bohb): checkpoints are kept for promotions."""
        return self.strategy in ("hyperband", "bohb")

    def with_trials(self, n_trials: int) -> StudySpec:
        return replace(self, n_trials=n_trials)

    def to_dict(self) -> dict[str, Any]:
        from orchestrator import __version__

        d = asdict(self)
        d["task"] = self.task.to_dict()
        d["job"] = self.job.to_dict()
        d["meta_roots"] = list(self.meta_roots)
        d["orch_version"] = __version__
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudySpec:
        version = int(d.get("schema_version", 0))
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is not supported (this orch reads {SCHEMA_VERSION})")
        opt = d.get
        return cls(
            name=str(d["name"]), task=Task.from_dict(d["task"]), job=JobSpec.from_dict(d["job"]),
            strategy=str(opt("strategy", "smac")), seed=int(opt("seed", 0)), n_trials=int(d["n_trials"]),
            parallel=int(opt("parallel", 1)), max_retries=int(opt("max_retries", 2)),
            budget=_opt_float(opt("budget")), min_budget=_opt_float(opt("min_budget")),
            max_budget=_opt_float(opt("max_budget")), executor=dict(opt("executor") or {"kind": "local"}),
            strategy_options=dict(opt("strategy_options") or {}), meta_roots=tuple(opt("meta_roots") or ()),
            created=float(opt("created", 0.0)), schema_version=version,
        )


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)
