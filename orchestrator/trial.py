"""Trial, TrialResult and TrialStatus: the value records that cross every layer (pure)."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class TrialStatus(str, enum.Enum):
    """Life cycle of a trial. The terminal ones are the last five."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    CRASHED = "CRASHED"
    TIMEOUT = "TIMEOUT"
    PREEMPTED = "PREEMPTED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self not in (TrialStatus.PENDING, TrialStatus.RUNNING)


Config = dict[str, Any]


@dataclass(frozen=True)
class Trial:
    """One configuration to evaluate at one budget.

    Parameters
    ----------
    trial_id : str
        Unique inside the study, zero padded ("0007"); also the folder name.
    config : dict
        Hyperparameter name -> plain Python value (no ConfigSpace types).
    budget : float | None
        Fidelity (epochs) or None for the job's own default.
    seed : int
        Seed passed to the job (and the optimiser's instance seed).
    attempt : int
        0 for the first submission, +1 per retry after TIMEOUT / PREEMPTED / node failure.
    origin : str
        Who proposed it ("random", "initial design", "meta: kNN", "model", ...).
    continues : str
        The paused (or lower-budget) trial of the same configuration whose checkpoint this one trains on
        from (freeze-thaw, a promotion); "" for a trial that starts from scratch.
    """

    trial_id: str
    config: Config
    budget: float | None = None
    seed: int = 0
    attempt: int = 0
    origin: str = ""
    continues: str = ""

    def retried(self) -> Trial:
        return replace(self, attempt=self.attempt + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        return cls(
            trial_id=str(d["trial_id"]),
            config=dict(d["config"]),
            budget=None if d.get("budget") is None else float(d["budget"]),
            seed=int(d.get("seed", 0)),
            attempt=int(d.get("attempt", 0)),
            origin=str(d.get("origin", "")),
            continues=str(d.get("continues") or ""),
        )


@dataclass(frozen=True)
class TrialResult:
    """What one attempt of a trial produced.

    ``objective`` is the raw value of the study's objective metric (not sign-flipped);
    ``metrics`` holds every metric the job reported. ``wall_seconds`` and ``gpu_hours``
    are the compute cost. A trial halted by its strategy on its learning curve (``halted``:
    "stopped" or "paused") is a SUCCESS whose objective is its last reported value and whose
    ``budget`` is the epoch it reached.
    """

    status: TrialStatus
    objective: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    gpu_hours: float = 0.0
    error: str = ""
    job_id: str = ""
    node: str = ""
    started: float | None = None
    finished: float | None = None
    budget: float | None = None
    task_features: dict[str, Any] = field(default_factory=dict)
    halted: str = ""

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.SUCCESS and self.objective is not None and math.isfinite(self.objective)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        """Build from a result.json mapping; raises KeyError/ValueError/TypeError on bad content."""
        status = TrialStatus(str(d["status"]).upper())
        objective = d.get("objective")
        metrics = {str(k): float(v) for k, v in dict(d.get("metrics") or {}).items() if _is_number(v)}
        return cls(
            status=status,
            objective=None if objective is None else float(objective),
            metrics=metrics,
            wall_seconds=float(d.get("wall_seconds") or 0.0),
            gpu_hours=float(d.get("gpu_hours") or 0.0),
            error=str(d.get("error") or ""),
            job_id=str(d.get("job_id") or ""),
            node=str(d.get("node") or ""),
            started=_opt_float(d.get("started")),
            finished=_opt_float(d.get("finished")),
            budget=_opt_float(d.get("budget")),
            task_features=dict(d.get("task_features") or {}),
            halted=str(d.get("halted") or ""),
        )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def format_trial_id(n: int) -> str:
    return f"{n:04d}"
