"""`orch status` and `orch jobs`: read-only tables over the store and the job registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.console import fmt_config, fmt_value
from orchestrator.errors import ConfigError, StoreCorrupt
from orchestrator.store.paths import studies_dir
from orchestrator.store.study import StudyStore


@dataclass(frozen=True)
class StudySummary:
    name: str
    task: str
    strategy: str
    target: int
    finished: int
    running: int
    failed: int
    best: float | None
    best_config: dict[str, Any] | None
    controller: str

    @property
    def state(self) -> str:
        if self.controller:
            return "running"
        return "done" if self.finished >= self.target else "stopped"


def summarize(store: StudyStore) -> StudySummary:
    state = store.state()
    task = store.spec.task
    finished = [r for r in state.records.values() if r.result is not None]
    ok = [r for r in finished if r.result is not None and r.result.ok and r.result.objective is not None]
    best = None
    for r in ok:
        assert r.result is not None and r.result.objective is not None
        if best is None or task.better(r.result.objective, best.result.objective):  # type: ignore[union-attr, arg-type]
            best = r
    owner = store.controller()
    controller = f"pid {owner['pid']} on {owner['host']}" if owner else ""
    return StudySummary(
        name=store.spec.name, task=task.name, strategy=store.spec.strategy.name, target=store.spec.n_trials,
        finished=len(finished), running=len(state.records) - len(finished), failed=len(finished) - len(ok),
        best=None if best is None or best.result is None else best.result.objective,
        best_config=None if best is None else best.trial.config, controller=controller,
    )


def list_studies(root: Path) -> list[str]:
    d = studies_dir(root)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "study.json").exists())


def render_status(console: Console, root: Path, study: str | None) -> None:
    if study:
        s = summarize(StudyStore.open(root, study))
        console.print(f"[bold]{s.name}[/] ({s.state}): {s.task}, {s.strategy}")
        console.print(f"  trials: {s.finished}/{s.target} finished, {s.running} running or queued, {s.failed} failed")
        if s.controller:
            console.print(f"  controller: {s.controller}")
        if s.best is not None and s.best_config is not None:
            console.print(f"  best: {fmt_value(s.best)}  {fmt_config(s.best_config, limit=20)}")
        return
    names = list_studies(root)
    if not names:
        raise ConfigError(f"--root: no studies under {studies_dir(root)}")
    table = Table("study", "state", "task", "strategy", "finished", "running", "failed", "best")
    for name in names:
        try:
            s = summarize(StudyStore.open(root, name))
        except StoreCorrupt as e:
            table.add_row(name, "[red]corrupt[/]", str(e)[:60], "", "", "", "", "")
            continue
        table.add_row(s.name, s.state, s.task, s.strategy, f"{s.finished}/{s.target}", str(s.running), str(s.failed),
                      "-" if s.best is None else fmt_value(s.best))
    console.print(table)


def render_jobs(console: Console) -> None:
    from orchestrator.space import load_space

    from jobs.registry import JOBS

    for info in JOBS.values():
        direction = "min" if info.minimize else "max"
        console.print(f"[bold]{info.name}[/] - {info.summary}")
        console.print(f"  objective: {direction} {info.objective}; metrics: {', '.join(info.metrics)}; "
                      f"epochs: {info.default_epochs}; datasets: {', '.join(info.datasets)}")
        space = load_space(info.space_file)
        for hp in space.values():
            console.print(f"    {_describe_hp(hp)}")


def _describe_hp(hp: Any) -> str:
    kind = type(hp).__name__.replace("Hyperparameter", "").replace("Uniform", "")
    if hasattr(hp, "lower"):
        log = ", log" if getattr(hp, "log", False) else ""
        return f"{hp.name}: {kind.lower()} [{fmt_value(hp.lower)}, {fmt_value(hp.upper)}{log}]"
    if hasattr(hp, "choices"):
        return f"{hp.name}: categorical {{{', '.join(map(str, hp.choices))}}}"
    if hasattr(hp, "sequence"):
        return f"{hp.name}: ordinal {{{', '.join(map(str, hp.sequence))}}}"
    return f"{hp.name}: constant {getattr(hp, 'value', '')}"
