"""The `orch` command line: parses options, calls the library, maps errors to exit codes.

Exit codes: 0 done, 1 runtime failure, 2 bad input (options, space files, scheduler refusals),
130 interrupted. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

try:  # typer >= 0.26 vendors its own click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as cx  # type: ignore[no-redef]

app = typer.Typer(
    name="orch", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Hyperparameter optimisation for SLURM clusters: SMAC3, meta-learned warm starts, submitit.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

RootOpt = Annotated[Path, typer.Option("--root", help="Results root (studies/ and metadataset/ live here).")]


def _kv(values: list[str] | None, flag: str) -> dict[str, object]:
    from orchestrator.errors import ConfigError

    out: dict[str, object] = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"{flag}: expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _literal(v.strip())
    return out


def _literal(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


@app.command()
def tune(
    root: RootOpt = Path("results"),
    study: Annotated[Optional[str], typer.Option(help="Study name (default: <job>-<strategy>-<time>).")] = None,
    job: Annotated[Optional[str], typer.Option(help="Built-in job to tune (see `orch jobs`).")] = None,
    command: Annotated[Optional[str], typer.Option(help="Your own command, e.g. \"python train.py --lr {lr}\".")] = None,
    cwd: Annotated[Optional[str], typer.Option(help="Working directory for --command (default: here).")] = None,
    space: Annotated[Optional[str], typer.Option(help="Search space: YAML, ConfigSpace JSON, or a job's preset name.")] = None,
    strategy: Annotated[str, typer.Option(help="random, grid, smac, ...")] = "smac",
    trials: Annotated[Optional[int], typer.Option(help="Number of trials to finish (default 20).")] = None,
    parallel: Annotated[int, typer.Option(help="Trials running at once.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the strategy and the jobs.")] = 0,
    resume: Annotated[Optional[str], typer.Option(help="Continue the named study.")] = None,
    objective: Annotated[Optional[str], typer.Option(help="Metric to optimise (default: the job's own).")] = None,
    minimize: Annotated[Optional[bool], typer.Option("--minimize/--maximize", help="Direction of the objective.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per trial (where the strategy sets no budget).")] = None,
    max_retries: Annotated[int, typer.Option(help="Retries after TIMEOUT / PREEMPTED / NODE_FAIL.")] = 2,
    grid_points: Annotated[int, typer.Option(help="Grid points per numeric hyperparameter (strategy grid).")] = 3,
    executor: Annotated[str, typer.Option(help="local or slurm.")] = "local",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per trial.")] = False,
) -> None:
    """Run a study: ask the strategy, run trials, record every result, print the best configuration."""
    from orchestrator.console import RichReporter
    from orchestrator.session import TuneRequest, prepare

    req = TuneRequest(
        root=root, study=study, job=job, command=command, cwd=cwd, space=space, strategy=strategy,
        trials=trials, parallel=parallel, seed=seed, resume=resume, objective=objective, minimize=minimize,
        epochs=epochs, max_retries=max_retries, grid_points=grid_points, executor=executor,
    )
    loop, notes = prepare(req, RichReporter(quiet=quiet))
    outcome = loop.run(notes)
    if outcome.interrupted:
        raise typer.Exit(130)


@app.command()
def status(
    study: Annotated[Optional[str], typer.Argument(help="Study name; all studies when omitted.")] = None,
    root: RootOpt = Path("results"),
) -> None:
    """Show studies (or one study): trials finished / running / failed and the best so far."""
    from orchestrator.console import console
    from orchestrator.status import render_status

    render_status(console, root, study)


@app.command()
def jobs() -> None:
    """List the built-in jobs with their objective, datasets and search space."""
    from orchestrator.console import console
    from orchestrator.status import render_jobs

    render_jobs(console)


_ClickExit = getattr(cx, "Exit", typer.Exit)
_ClickAbort = getattr(cx, "Abort", typer.Abort)
_REPRODUCIBLE = ("tune", "bench")


def _pin_hash_seed() -> None:
    """SMAC's choices depend on set iteration order, so the same --seed only gives the same study
    with a fixed hash seed: restart the interpreter with one unless the user chose their own."""
    import os

    if "PYTHONHASHSEED" not in os.environ:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app and turns every error into one line and an exit code."""
    from orchestrator.console import error
    from orchestrator.errors import OrchError

    args = sys.argv[1:] if argv is None else argv
    if argv is None and args[:1] and args[0] in _REPRODUCIBLE:
        _pin_hash_seed()
    try:
        rv = app(args=args, prog_name="orch", standalone_mode=False)
        return int(rv or 0)
    except OrchError as e:
        error(str(e))
        return e.exit_code
    except cx.NoArgsIsHelpError:  # typer has printed the help already
        return 0
    except cx.UsageError as e:
        hint = f" (see: orch {e.ctx.info_name} --help)" if e.ctx is not None and e.ctx.info_name != "orch" else ""
        error(f"{e.format_message()}{hint}")
        return 2
    except (typer.Exit, _ClickExit) as e:
        return int(e.exit_code)
    except (typer.Abort, _ClickAbort):
        error("aborted")
        return 130
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except cx.ClickException as e:
        error(e.format_message())
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
