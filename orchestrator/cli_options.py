"""The command line's shared option declarations and the parsing of NAME=VALUE options (no work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

RootOpt = Annotated[Path, typer.Option("--root", help="Results root (studies/ and metadataset/ live here).")]
StudyOpt = Annotated[Optional[str], typer.Option(help="Study name (default: <job>-<strategy>-<time>).")]
JobOpt = Annotated[Optional[str], typer.Option(help="Built-in job to tune (see `orch jobs`).")]
CommandOpt = Annotated[Optional[str], typer.Option(help="Your own command, e.g. \"python train.py --lr {lr}\".")]
CwdOpt = Annotated[Optional[str], typer.Option(help="Working directory for --command (default: here).")]
SpaceOpt = Annotated[Optional[str], typer.Option(help="Search space: YAML, ConfigSpace JSON, or a job's preset name.")]
TrialsOpt = Annotated[Optional[int], typer.Option(help="Number of trials to finish (default 20).")]
ParallelOpt = Annotated[int, typer.Option(help="Trials running at once.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the strategy and the jobs.")]
ObjectiveOpt = Annotated[Optional[str], typer.Option(help="Metric to optimise (default: the job's own).")]
MinimizeOpt = Annotated[Optional[bool], typer.Option("--minimize/--maximize", help="Direction of the objective.")]
EpochsOpt = Annotated[Optional[int], typer.Option(help="Epochs per trial (where the strategy sets no budget).")]
GridPointsOpt = Annotated[int, typer.Option(help="Grid points per numeric hyperparameter (strategy grid).")]
DataOpt = Annotated[Optional[str], typer.Option(help="Dataset: a path, a name under $ORCH_DATASETS, or a Hugging Face name.")]
SubsampleOpt = Annotated[Optional[int], typer.Option(help="Use at most N training rows (quick runs).")]
ModelOpt = Annotated[Optional[str], typer.Option(help="Transformer: a Hugging Face name or path, minilm, or tiny-bert.")]
FixOpt = Annotated[Optional[list[str]], typer.Option(help="Hold a hyperparameter constant: NAME=VALUE (repeatable).")]
MetaRootOpt = Annotated[Optional[list[str]], typer.Option("--meta-root", help="Another results root to learn from (repeatable; also $ORCH_META_ROOTS).")]
JobOptionOpt = Annotated[Optional[list[str]], typer.Option("--job-option", "-o", help="Job option NAME=VALUE (repeatable), e.g. -o max_length=64, -o target=price.")]
SLURM_PANEL = "SLURM"
PartitionOpt = Annotated[Optional[str], typer.Option(help="SLURM partition: run trials as SLURM jobs.", rich_help_panel=SLURM_PANEL)]
GresOpt = Annotated[Optional[str], typer.Option(help="Generic resources per trial, e.g. gpu:1.", rich_help_panel=SLURM_PANEL)]
GpusOpt = Annotated[Optional[int], typer.Option(help="GPUs per trial (--gpus-per-node).", rich_help_panel=SLURM_PANEL)]
CpusOpt = Annotated[Optional[int], typer.Option(help="CPUs per trial.", rich_help_panel=SLURM_PANEL)]
MemOpt = Annotated[Optional[str], typer.Option(help="Memory per trial, e.g. 16G.", rich_help_panel=SLURM_PANEL)]
TimeOpt = Annotated[Optional[str], typer.Option("--time", help="Time limit per trial (minutes, HH:MM:SS or D-HH:MM:SS), local or SLURM: a trial past it ends TIMEOUT and is retried.")]
AccountOpt = Annotated[Optional[str], typer.Option(help="SLURM account.", rich_help_panel=SLURM_PANEL)]
QosOpt = Annotated[Optional[str], typer.Option(help="Quality of service.", rich_help_panel=SLURM_PANEL)]
ConstraintOpt = Annotated[Optional[str], typer.Option(help="Node features (--constraint).", rich_help_panel=SLURM_PANEL)]
ExcludeOpt = Annotated[Optional[str], typer.Option(help="Nodes to avoid.", rich_help_panel=SLURM_PANEL)]
ExtraOpt = Annotated[Optional[list[str]], typer.Option(help="Extra sbatch option, e.g. --sbatch-extra=--reservation=x (repeatable).", rich_help_panel=SLURM_PANEL)]
SetupOpt = Annotated[Optional[list[str]], typer.Option(help="Shell line run before each trial, e.g. 'module load cuda' (repeatable).", rich_help_panel=SLURM_PANEL)]
JobNameOpt = Annotated[Optional[str], typer.Option(help="SLURM job name (default orch-<study>).", rich_help_panel=SLURM_PANEL)]
ProfileOpt = Annotated[Optional[str], typer.Option(help="Cluster profile (TOML) with defaults for the options above.", rich_help_panel=SLURM_PANEL)]



def kv_options(values: list[str] | None, flag: str) -> dict[str, object]:
    from orchestrator.errors import ConfigError

    out: dict[str, object] = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"{flag}: expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = literal(v.strip())
    return out


def literal(text: str) -> object:
    """A NAME=VALUE option's value: a number, true/false, or the text."""
    from orchestrator.space import number_or_text

    value = number_or_text(text)
    return {"true": True, "false": False}.get(text.lower(), text) if isinstance(value, str) else value


def job_options(items: list[str] | None, data: str | None, subsample: int | None, model: str | None) -> dict[str, object]:
    from orchestrator.errors import ConfigError

    options = kv_options(items, "--job-option")
    if data is not None:
        options["data"] = data
    if subsample is not None:
        if subsample < 1:
            raise ConfigError(f"--subsample: must be at least 1, got {subsample}")
        options["subsample"] = subsample
    if model is not None:
        options["model"] = model
    return options


def slurm_options(partition: str | None, gres: str | None, gpus_per_node: int | None, cpus_per_task: int | None,
           mem: str | None, time_limit: str | None, account: str | None, qos: str | None, constraint: str | None,
           exclude: str | None, sbatch_extra: list[str] | None, setup: list[str] | None,
           job_name: str | None) -> object:
    from orchestrator.executors.profile import SlurmOptions

    return SlurmOptions(
        partition=partition, gres=gres, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task, mem=mem,
        time=time_limit, account=account, qos=qos, constraint=constraint, exclude=exclude, job_name=job_name,
        sbatch_extra=tuple(sbatch_extra or ()), setup=tuple(setup or ()),
    )


def given_options(ctx: typer.Context) -> frozenset[str]:
    """The options the user set (on the command line or through their environment variable)."""
    try:
        from typer._click.core import ParameterSource
    except ImportError:  # pragma: no cover - typer on real click
        from click.core import ParameterSource  # type: ignore[no-redef]

    return frozenset(n for n in ctx.params
                     if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT))
