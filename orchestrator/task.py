"""Task: what a study tunes (job, dataset, objective, direction) and the meta-features it is matched by."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

FeatureValue = float | int | str


@dataclass(frozen=True)
class Task:
    """The thing being tuned.

    ``features`` are the task's meta-features (rows, classes, class entropy, input size, modality,
    model family, ...): numbers or short strings. Meta-learning finds similar past tasks by them.
    """

    job: str
    dataset: str
    objective: str
    minimize: bool = False
    features: dict[str, FeatureValue] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.job}:{self.dataset}"

    @property
    def direction(self) -> str:
        return "minimize" if self.minimize else "maximize"

    def cost(self, objective: float) -> float:
        """The optimiser's cost (always minimised) for a raw objective value."""
        return objective if self.minimize else -objective

    def better(self, a: float, b: float) -> bool:
        return a < b if self.minimize else a > b

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "dataset": self.dataset, "objective": self.objective,
                "direction": self.direction, "features": dict(self.features)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        direction = str(d.get("direction", "maximize"))
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be minimize or maximize, got {direction!r}")
        return cls(job=str(d["job"]), dataset=str(d["dataset"]), objective=str(d["objective"]),
                   minimize=direction == "minimize", features=clean_features(d.get("features") or {}))


def clean_features(raw: dict[str, Any]) -> dict[str, FeatureValue]:
    """Keep finite numbers and short strings; drop everything else (None, NaN, nested values)."""
    out: dict[str, FeatureValue] = {}
    for k, v in raw.items():
        if isinstance(v, bool):
            out[str(k)] = int(v)
        elif isinstance(v, (int, float)) and math.isfinite(float(v)):
            out[str(k)] = v
        elif hasattr(v, "item"):
            item = v.item()
            if isinstance(item, (int, float)) and math.isfinite(float(item)):
                out[str(k)] = item
        elif isinstance(v, str) and len(v) <= 200:
            out[str(k)] = v
    return out
