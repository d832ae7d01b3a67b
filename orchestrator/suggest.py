"""`orch meta suggest`: what a new study on a job and dataset would start with, and why.

Planned exactly as `orch tune` plans a study (the same task, space and warm-start planner), without
creating one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.metalearning.views import meta_roots
from orchestrator.metalearning.warmstart import WarmStartPlan, load_meta
from orchestrator.plan import command_job, dataset_label
from orchestrator.task import Task, clean_features


@dataclass
class Suggestion:
    task: Task
    space: Any
    plan: WarmStartPlan


def suggest(job: str | None, data: str | None, space: str | None, selector: str, n: int | None, root: Path,
            extra_roots: list[str], options: dict[str, Any], seed: int = 0, command: str | None = None,
            task_name: str | None = None) -> Suggestion:
    """``command`` (with ``space``, optionally ``task_name``): a --command study's warm start."""
    from jobs.registry import DEFAULT_JOB, get_job, presets
    from orchestrator.space import load_space
    from orchestrator.spec import MetaAshaOptions, MetaOptions
    from orchestrator.strategies import STRATEGIES, plan_warm_start, strategy_of_selector

    selectors = list(dict.fromkeys(s.selector for s in STRATEGIES.values() if s.selector))
    if selector not in selectors:
        raise ConfigError(f"--selector: unknown selector '{selector}' ({', '.join(selectors)})")
    if command:
        if job or not space:
            raise ConfigError("--command: give --space (and no --job)")
        cs = load_space(space, presets=presets())
        task = Task(command_job(command, cs, task_name), "custom", "objective", True)
    else:
        if task_name:
            raise ConfigError("--task-name: only with --command")
        info = get_job(job or DEFAULT_JOB)
        cs = load_space(space or info.name, presets=presets())
        module = info.load()
        features = clean_features(dict(module.task_features(options)) if hasattr(module, "task_features") else {})
        task = Task(info.name, dataset_label(data, info.datasets[0]), info.objective, info.minimize, features)
    meta = load_meta(meta_roots(root, extra_roots), exclude_study=None)
    learner = strategy_of_selector(selector)
    assert isinstance(learner.options, (MetaOptions, MetaAshaOptions))
    options_ = learner.options if n is None else replace(learner.options, warm_configs=n)
    return Suggestion(task, cs, plan_warm_start(learner.name, cs, task, meta, seed, options_))
