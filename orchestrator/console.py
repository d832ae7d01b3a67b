"""All terminal output: one rich Console, error lines, and the live progress of a study."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from orchestrator.store.study import StudyStore
    from orchestrator.trial import Trial, TrialResult
    from orchestrator.tune import Progress, TuneOutcome

# wide tables when writing to a file or a pipe (rich would assume 80 columns there)
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One line on stderr: ``orch: error: <message>`` (the message's first line only)."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    err_console.print(f"orch: error: {first}", markup=False, soft_wrap=True)


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fmt_config(config: dict[str, Any], limit: int = 8) -> str:
    items = [f"{k}={fmt_value(v)}" for k, v in list(config.items())[:limit]]
    if len(config) > limit:
        items.append("...")
    return " ".join(items)


class RichReporter:
    """Live progress bar (done / running / failed / best so far) and one line per finished trial."""

    def __init__(self, quiet: bool = False, out: Console | None = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = out or console
        self.quiet = quiet
        self._objective = "objective"
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=self.console, transient=True, disable=not self.console.is_terminal,
        )
        self._task: Any = None

    def started(self, store: StudyStore, resumed: bool, notes: list[str]) -> None:
        spec = store.spec
        self._objective = spec.task.objective
        for n in notes:
            self.console.print(f"[cyan]orch:[/] {n}")
        verb = "resuming" if resumed else "starting"
        self.console.print(
            f"[cyan]orch:[/] {verb} study [bold]{spec.name}[/]: {spec.task.name}, {spec.strategy.name}, "
            f"{spec.n_trials} trials, {spec.parallel} in parallel, {spec.executor.get('kind', 'local')} executor, "
            f"{spec.task.direction} {spec.task.objective}"
        )
        self.console.print(f"[cyan]orch:[/] study folder {store.paths.dir}")
        self._bar.start()
        self._task = self._bar.add_task(spec.name, total=spec.n_trials, status="")

    def progress(self, p: Progress) -> None:
        if self._task is None:
            return
        best = "-" if p.best_value is None else fmt_value(p.best_value)
        status = f"running {p.running}  failed {p.failed}  best {self._objective}={best}"
        self._bar.update(self._task, completed=p.done, total=p.target, status=status)

    def trial_finished(self, trial: Trial, result: TrialResult) -> None:
        if self.quiet:
            return
        secs = f"{result.wall_seconds:.1f}s"
        if result.ok:
            at = f" {result.halted} after epoch {result.budget:g}," if result.halted and result.budget is not None else ""
            cont = f" (continues {trial.continues})" if trial.continues else ""
            line = (f"trial {trial.trial_id}{cont} [green]{result.status.value}[/]{at} {self._objective}="
                    f"{fmt_value(result.objective)} ({secs}) {fmt_config(trial.config)}")
        else:
            from rich.markup import escape

            from orchestrator.failures import failure_reason

            err = escape(failure_reason(result.error, limit=160))
            line = f"trial {trial.trial_id} [red]{result.status.value}[/] ({secs}) {err}"
        self.console.print(line, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]orch:[/] {text}", soft_wrap=True)

    def finished(self, outcome: TuneOutcome) -> None:
        self._bar.stop()
        p = outcome.progress
        if outcome.interrupted:
            self.console.print(
                f"[yellow]orch:[/] stopped: {p.done} of {p.target} trials done ({p.failed} failed). Resume with: "
                f"[bold]orch tune --resume {outcome.study}{_root_hint()}[/]"
            )
        else:
            self.console.print(f"[cyan]orch:[/] study {outcome.study}: {p.done} trials done, {p.done - p.failed} "
                               f"succeeded, {p.failed} failed"
                               + (f" ({outcome.stop_reason})" if outcome.stop_reason not in ("", "done") else ""))
        best = outcome.best
        if best is not None and best.result is not None:
            self.console.print(
                f"[bold green]best[/] trial {best.trial.trial_id}: {self._objective}={fmt_value(best.result.objective)}"
            )
            for k, v in best.trial.config.items():
                self.console.print(f"  {k} = {fmt_value(v)}")


def _root_hint() -> str:
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == "--root" and i + 1 < len(argv):
            return f" --root {argv[i + 1]}"
        if a.startswith("--root="):
            return f" {a}"
    return ""
