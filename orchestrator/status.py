"""`orch status` and `orch jobs`: read-only tables over the store and the job registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.console import fmt_config, fmt_value
from orchestrator.errors import StoreCorrupt
from orchestrator.failures import FailureGroup, failure_reason, group_failures
from orchestrator.store.paths import studies_dir
from orchestrator.store.study import StudyStore


@dataclass(frozen=True)
class StudySummary:
    name: str
    task: str
    strategy: str
    target: int
    succeeded: int
    failed: int
    running: int  # trials without a result while a controller runs the study
    unfinished: int  # trials without a result and no controller (a resume collects or reruns them)
    best: float | None
    best_config: dict[str, Any] | None
    controller: str
    objective: str = ""
    minimize: bool = False
    failures: tuple[FailureGroup, ...] = ()
    alive_without_controller: int = 0  # unfinished trials whose local worker still runs

    @property
    def finished(self) -> int:
        """Trials with a result, succeeded or failed (what the study's target counts)."""
        return self.succeeded + self.failed

    @property
    def state(self) -> str:
        if self.controller:
            return "running"
        return "done" if self.finished >= self.target and not self.unfinished else "stopped"

    @property
    def best_label(self) -> str:
        """The best column's heading: 'best accuracy (max)'."""
        return f"best {self.objective} ({'min' if self.minimize else 'max'})" if self.objective else "best"


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
    controller = _controller(store)
    open_records = [r for r in state.records.values() if r.result is None]
    alive = 0
    if not controller:
        from orchestrator.executors.local import handle_alive

        alive = sum(1 for r in open_records if r.handle and handle_alive(r.handle))
    ok_ids = {r.trial.trial_id for r in ok}
    failed = [r for r in finished if r.trial.trial_id not in ok_ids]
    groups = group_failures((r.trial.trial_id, r.result.status.value, failure_reason(r.result.error))
                            for r in failed if r.result is not None)
    return StudySummary(
        name=store.spec.name, task=task.name, strategy=store.spec.strategy.name, target=store.spec.n_trials,
        succeeded=len(ok), failed=len(failed), running=len(open_records) if controller else 0,
        unfinished=0 if controller else len(open_records),
        best=None if best is None or best.result is None else best.result.objective,
        best_config=None if best is None else best.trial.config, controller=controller,
        objective=task.objective, minimize=task.minimize, failures=tuple(groups), alive_without_controller=alive,
    )


def _controller(store: StudyStore) -> str:
    owner = store.controller()
    return f"pid {owner['pid']} on {owner['host']}" if owner else ""


def list_studies(root: Path) -> list[str]:
    d = studies_dir(root)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "study.json").exists())


def study_lines(s: StudySummary, root: Path | None = None, failures: int = 8) -> list[str]:
    """`orch status STUDY` as lines of rich markup."""
    lines = [f"[bold]{escape(s.name)}[/] ({s.state}): {escape(s.task)}, {escape(s.strategy)}"]
    trials = (f"  trials: {s.finished}/{s.target} done: {s.succeeded} succeeded, {s.failed} failed")
    if s.running:
        trials += f", {s.running} running or queued"
    lines.append(trials)
    if s.unfinished:
        hint = f"orch tune --resume {s.name}" + (f" --root {root}" if root is not None and str(root) != "results" else "")
        still = f", {s.alive_without_controller} of them still running on this machine" if s.alive_without_controller else ""
        lines.append(f"  unfinished: {s.unfinished} trials without a result and no controller{still}; "
                     f"`{escape(hint)}` collects or reruns them")
    if s.controller:
        lines.append(f"  controller: {escape(s.controller)}")
    if s.best is not None and s.best_config is not None:
        lines.append(f"  {escape(s.best_label)}: {fmt_value(s.best)}  {escape(fmt_config(s.best_config, limit=20))}")
    if s.failures:
        lines.append("  failed trials:")
        for g in s.failures[:failures]:
            lines.append(f"    {escape(g.line())}")
        if len(s.failures) > failures:
            lines.append(f"    ... and {len(s.failures) - failures} other reasons (orch results {escape(s.name)})")
    return lines


def render_status(console: Console, root: Path, study: str | None) -> None:
    if study:
        for line in study_lines(summarize(StudyStore.open(root, study)), root):
            console.print(line, soft_wrap=True)
        return
    names = list_studies(root)
    if not names:
        console.print(f"no studies yet under {escape(str(studies_dir(root)))}; start one with "
                      f"`orch tune --job digits-mlp --trials 20{'' if str(root) == 'results' else f' --root {escape(str(root))}'}` "
                      "(or `orch jobs` for the built-in jobs)")
        return
    rows: list[tuple[str, StudySummary | str]] = []
    for name in names:
        try:
            rows.append((name, summarize(StudyStore.open(root, name))))
        except StoreCorrupt as e:
            rows.append((name, str(e)))
    labels = {s.best_label for _, s in rows if isinstance(s, StudySummary)}
    shared = labels.pop() if len(labels) == 1 else None
    table = Table("study", "state", "task", "strategy", "done", "succeeded", "failed", "running", shared or "best")
    for name, s in rows:
        if not isinstance(s, StudySummary):
            table.add_row(escape(name), "[red]corrupt[/]", escape(s[:60]), "", "", "", "", "", "")
            continue
        best = "-" if s.best is None else fmt_value(s.best)
        if shared is None and s.best is not None:
            best = f"{best} {s.objective} ({'min' if s.minimize else 'max'})"
        running = str(s.running) if s.controller else (f"- ({s.unfinished} unfinished)" if s.unfinished else "-")
        table.add_row(escape(s.name), s.state, escape(s.task), escape(s.strategy), f"{s.finished}/{s.target}",
                      str(s.succeeded), str(s.failed), running, escape(best))
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
        conditions = describe_conditions(space)
        for hp in space.values():
            when = f"  (only when {conditions[hp.name]})" if hp.name in conditions else ""
            console.print(f"    {_describe_hp(hp)}{when}", markup=False)


def describe_conditions(space: Any) -> dict[str, str]:
    """Each conditional hyperparameter's condition in words: {'momentum': 'optimizer == sgd'}."""
    out: dict[str, str] = {}
    for cond in getattr(space, "conditions", ()):
        child = getattr(getattr(cond, "child", None), "name", None)
        if child is None:
            continue
        text = str(cond).replace(f"{child} | ", "").replace("'", "").replace(" && ", " and ").replace(" || ", " or ")
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
        out[child] = f"{out[child]} and {text}" if child in out else text
    return out


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
