"""`orch meta ...`: the meta-dataset of past studies (list, show, export, suggest)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli_options import (
    CommandOpt,
    DataOpt,
    JobOpt,
    MetaRootOpt,
    ModelOpt,
    RootOpt,
    SpaceOpt,
    SubsampleOpt,
    job_options,
)

meta_app = typer.Typer(help="The meta-dataset of past studies: list, show, export, suggest.", no_args_is_help=True)


def _load_meta(root: Path, meta_root: list[str] | None) -> object:
    from orchestrator.console import err_console
    from orchestrator.metalearning.metadata import MetaData
    from orchestrator.metalearning.views import meta_roots

    md = MetaData.load(meta_roots(root, meta_root))
    for problem in md.problems:
        err_console.print(f"orch: warning: {problem}", markup=False)
    return md


@meta_app.command("list")
def meta_list(root: RootOpt = Path("results"), meta_root: MetaRootOpt = None) -> None:
    """Tasks in the meta-dataset: trials, objective, best value, meta-features."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import list_table

    md = _load_meta(root, meta_root)
    console.print(list_table(md))  # type: ignore[arg-type]


@meta_app.command("show")
def meta_show(
    task: Annotated[str, typer.Argument(help="Task name as `orch meta list` prints it (job:dataset).")],
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
    top: Annotated[int, typer.Option(help="How many best configurations.")] = 10,
) -> None:
    """One task: its meta-features and best configurations."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import show_table

    feats, best = show_table(_load_meta(root, meta_root), task, top)  # type: ignore[arg-type]
    console.print(feats)
    console.print(best)


@meta_app.command("export")
def meta_export(
    out: Annotated[Path, typer.Option(help="One .csv or .parquet file with every trial of every study.")],
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
) -> None:
    """Write the whole meta-dataset to one CSV or parquet file."""
    from orchestrator.console import console
    from orchestrator.metalearning.views import export

    md = _load_meta(root, meta_root)
    path = export(md, out)  # type: ignore[arg-type]
    console.print(f"orch: wrote {len(md)} trials of {len(md.task_names())} tasks to {path}")  # type: ignore[attr-defined]


@meta_app.command("suggest")
def meta_suggest(
    job: JobOpt = None,
    command: CommandOpt = None,
    task_name: Annotated[Optional[str], typer.Option(help="With --command: the task's name, as `orch tune --task-name`.")] = None,
    data: DataOpt = None,
    space: SpaceOpt = None,
    subsample: SubsampleOpt = None,
    model: ModelOpt = None,
    selector: Annotated[str, typer.Option(help="meta-smac (what meta-smac and meta-bnn start with), meta-asha (the same, cheapest first), meta-bo, best-of-others, portfolio, knn or model.")] = "meta-smac",
    n: Annotated[Optional[int], typer.Option("--n", help="How many configurations (default: what a study starts with: 3 for meta-smac, 5 for the others).")] = None,
    root: RootOpt = Path("results"), meta_root: MetaRootOpt = None,
    seed: Annotated[int, typer.Option(help="The study's seed (`orch tune --seed`): meta-smac samples candidates.")] = 0,
) -> None:
    """The configurations a new study would start with, and why (which past tasks, their distance)."""
    from orchestrator.console import console
    from orchestrator.suggest import suggest
    from orchestrator.views import print_suggestion

    print_suggestion(console, suggest(job, data, space, selector, n, root, list(meta_root or ()),
                                      job_options(None, data, subsample, model), seed=seed, command=command,
                                      task_name=task_name))
