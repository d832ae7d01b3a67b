"""What the commands print: rich tables and lines over what the library returns (no work of their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from orchestrator.console import fmt_value


def ingest_line(study: str, report: Any) -> str:
    missing = report.missing
    more = f" ({', '.join(missing[:10])}{'...' if len(missing) > 10 else ''})" if missing else ""
    return (f"orch: {study}: ingested {len(report.ingested)} results, {report.already} were already recorded, "
            f"{len(missing)} trials have no result yet{more}")


def print_results(console: Console, r: Any, top: int) -> None:
    """`orch results STUDY`: summary, compute, failures, best configuration and the top-k table."""
    from orchestrator.analysis import failure_lines

    s = r.summary()
    console.print(f"[bold]{s['study']}[/]: {s['task']}, {s['strategy']}, {s['direction']} {s['objective']}; "
                  f"{s['trials']} of {s['target_trials']} trials: "
                  + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    c = s["compute"]
    console.print(f"compute: {c['wall_hours']:.3f} wall-hours ({c['mean_wall_seconds_per_trial']:.1f} s per trial), "
                  f"{c['gpu_hours']:.3f} GPU-hours ({c['mean_gpu_hours_per_trial']:.4f} per trial)")
    console.print(f"trials to reach 95% / 99% of the best: {s['trials_to_95pct_of_best']} / {s['trials_to_99pct_of_best']}")
    for line in failure_lines(r):
        console.print(line, markup=False)
    if s["best"] is not None:
        console.print(f"best: trial {s['best']['trial_id']}, {r.objective} = {fmt_value(s['best']['objective'])}")
        for k, v in s["best"]["config"].items():
            console.print(f"  {k} = {fmt_value(v)}")
    table = Table("trial", r.objective, *r.hyperparameters, "wall s", title=f"top {top}")
    for _, row in r.top(top).iterrows():
        table.add_row(str(row["trial_id"]), fmt_value(float(row["objective"])),
                      *(fmt_value(row[f"hp:{h}"]) if row[f"hp:{h}"] == row[f"hp:{h}"] else "-" for h in r.hyperparameters),
                      f"{float(row.get('wall_seconds', 0)):.1f}")
    console.print(table)


def results_csv(r: Any, out: IO[str]) -> None:
    """Every trial as CSV, best first."""
    order = r.trials.sort_values("objective", ascending=r.minimize, na_position="last", kind="stable")
    order.drop(columns=["incumbent", "counts"]).to_csv(out, index=False)


def print_comparison(console: Console, table: Any, notes: list[str]) -> None:
    t = Table(*table.columns)
    for _, row in table.iterrows():
        t.add_row(*(fmt_value(v) if v == v and v is not None else "-" for v in row.tolist()))
    console.print(t)
    for note in notes:
        console.print(f"orch: note: {note}", markup=False)


def print_suggestion(console: Console, result: Any) -> None:
    """`orch meta suggest`: the task, its nearest past tasks and the warm start with its reasons."""
    console.print(f"task {result.task.name}: {', '.join(f'{k}={fmt_value(v)}' for k, v in result.task.features.items())}")
    nb = Table("past task", "distance by meta-features", "shared hyperparameters", title="nearest past tasks")
    for t, d in result.plan.tasks[:10]:
        nb.add_row(t, "?" if d == float("inf") else f"{d:.2f}", str(len(result.plan.shared.get(t, ()))))
    console.print(nb)
    names = list(result.space.keys())
    table = Table("#", *names, "why", title=f"warm start ({result.plan.selector})")
    for i, (c, why) in enumerate(zip(result.plan.configs, result.plan.reasons), start=1):
        table.add_row(str(i), *(fmt_value(c.get(h, "-")) for h in names), why)
    console.print(table)
    if not result.plan.configs:
        console.print("orch: no related past tasks: a new study would start from SMAC's own initial design")


@contextmanager
def bench_progress(console: Console, total: int) -> Iterator[Callable[[Any], None]]:
    """A progress bar over a comparison's runs; yields the callback each finished run reports to."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        job = bar.add_task("", total=total)

        def tick(r: Any) -> None:
            spec = r.spec
            bar.update(job, advance=1, description=f"{spec.strategy} {spec.task} seed {spec.seed}")

        yield tick


def figures_table(title: str, figures: Mapping[str, Any]) -> Table:
    """A two-column table of named figures (floats to two decimals)."""
    t = Table("figure", "value", title=title)
    for k, v in figures.items():
        t.add_row(k, f"{v:.2f}" if isinstance(v, float) else str(v))
    return t


def frame_table(df: Any, title: str) -> Table:
    t = Table(*df.columns, title=title)
    for _, row in df.iterrows():
        t.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()))
    return t


def faults_table() -> Table:
    return Table("fault", "injected", "lost", "duplicated", "recovery s", "trials", "statuses", "notes",
                 title="fault injection on the dev cluster")


def add_fault(console: Console, table: Table, result: Any) -> None:
    d = asdict(result)
    table.add_row(d["fault"], str(d["injected"]), str(d["lost"]), str(d["duplicated"]), f"{d['recovery_s']:.1f}",
                  str(d["trials"]), ", ".join(f"{k} {v}" for k, v in d["statuses"].items()), d["notes"][:60])
    console.print(f"orch: {d['fault']}: injected {d['injected']}, lost {d['lost']}, duplicated {d['duplicated']}")


def overhead_table(rows: list[Any], partition: str, parallel: int) -> Table:
    table = Table("run", "trials", "wall s", "trials/s", "ctl CPU s/trial", "sched CPU s/trial", "sacct/min",
                  "sbatch", "median end->next submit s", title=f"orchestration overhead ({partition}, %{parallel})")
    for r in rows:
        table.add_row(r.run, str(r.trials), f"{r.wall_s:.1f}", f"{r.trials_per_s:.2f}",
                      f"{r.controller_cpu_s_per_trial:.3f}", f"{r.scheduler_cpu_s_per_trial:.3f}",
                      f"{r.sacct_per_min:.1f}", str(r.sbatch_calls),
                      "-" if r.median_gap_s is None else f"{r.median_gap_s:.2f}")
    return table
