"""`orch meta suggest`: what a new study on a job and dataset would start with, and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.metalearning.views import meta_roots
from orchestrator.metalearning.warmstart import WarmStartPlan, load_meta, plan
from orchestrator.task import Task, clean_features


@dataclass
class Suggestion:
    task: Task
    space: Any
    plan: WarmStartPlan


def suggest(job: str | None, data: str | None, space: str | None, selector: str, n: int | None, root: Path,
            extra_roots: list[str], options: dict[str, Any], seed: int = 0) -> Suggestion:
    from jobs.registry import DEFAULT_JOB, get_job, presets
    from orchestrator.metalearning.selectors import SELECTORS
    from orchestrator.session import _dataset_label
    from orchestrator.space import load_space

    if selector not in SELECTORS:
        raise ConfigError(f"--selector: unknown selector '{selector}' (meta-smac, portfolio, knn, model)")
    info = get_job(job or DEFAULT_JOB)
    cs = load_space(space or info.name, presets=presets())
    features = clean_features(dict(getattr(info.load(), "task_features", lambda o: {})(options)))
    task = Task(info.name, _dataset_label(data, info.datasets[0]), info.objective, info.minimize, features)
    meta = load_meta(meta_roots(root, extra_roots), exclude_study=None)
    if n is None:  # what a study of a strategy with this selector starts with
        from orchestrator.strategies import SELECTOR_OF, STRATEGIES

        n = STRATEGIES[next(s for s, sel in SELECTOR_OF.items() if sel == selector)].warm_configs
    return Suggestion(task, cs, plan(meta, cs, task, selector, n=n, seed=seed))
