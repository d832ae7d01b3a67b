"""A new study's meta-learned warm start: load the meta-dataset (never the study's own trials), pick
the selector, and record the chosen configurations and why, so that a resume reuses them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.related import ranked_neighbours, relevant
from orchestrator.metalearning.selectors import SELECTORS, WarmStart

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.task import Task

DEFAULT_SELECTOR = "meta-smac"
WARM_CONFIGS = 5


@dataclass(frozen=True)
class WarmStartPlan:
    selector: str
    configs: list[dict[str, Any]]
    reasons: list[str]
    tasks: list[tuple[str, float]] = field(default_factory=list)  # (task, distance) it learned from
    problems: list[str] = field(default_factory=list)
    shared: dict[str, tuple[str, ...]] = field(default_factory=dict)  # task -> hyperparameters shared with the space


def load_meta(roots: Sequence[Path], exclude_study: str | None) -> MetaData:
    return MetaData.load(roots, exclude_studies=[exclude_study] if exclude_study else [], lean=True)


def plan(meta: MetaData, space: ConfigurationSpace, task: Task | None, selector: str = DEFAULT_SELECTOR,
         n: int = WARM_CONFIGS, seed: int = 0) -> WarmStartPlan:
    meta = relevant(meta, space, task.job if task is not None else None)
    if not len(meta.ok):
        return WarmStartPlan(selector, [], [], [], list(meta.problems))
    features = dict(task.features) if task is not None else {}
    ws: WarmStart = SELECTORS[selector](meta, features, space, n=n, seed=seed)
    nbs = ws.neighbours or ranked_neighbours(meta, features, space)
    return WarmStartPlan(selector, ws.configs, ws.reasons, [(nb.task, nb.distance) for nb in nbs], list(meta.problems),
                         {nb.task: nb.shared for nb in nbs})
