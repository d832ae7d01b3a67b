"""The trial side: read config.json, run the job, write result.json (temp file + rename, last).

Runs as ``python -m orchestrator.worker TRIAL_DIR`` (local executor) or as the function
``run_trial_dir`` inside a SLURM job (submitit). A Python exception in the job becomes a CRASHED
result with its traceback; SIGTERM (cancel, preemption, time limit) leaves no result, so the
controller can tell "stopped by the machine" from "failed" and retry.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from jobs.context import Stopped
from orchestrator.spec import JobSpec
from orchestrator.store.atomic import atomic_write_json, read_json
from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial, TrialResult, TrialStatus


def _on_term(signum: int, frame: Any) -> None:
    raise Stopped(f"signal {signum}")


def _is_command_failure(e: BaseException) -> bool:
    from jobs.command import CommandFailed

    return isinstance(e, CommandFailed)


def _user_frames(te: traceback.TracebackException) -> None:
    """Drop orch's own frames (this worker) from a job's traceback, in place, chained ones too."""
    here = str(Path(__file__).parent)
    seen: set[int] = set()
    todo: list[traceback.TracebackException | None] = [te]
    while todo:
        t = todo.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        kept = [f for f in t.stack if not str(f.filename).startswith(here)]
        t.stack = traceback.StackSummary.from_list(kept or list(t.stack))
        todo += [t.__cause__, t.__context__]


def failure_error(e: BaseException, limit: int = 6000) -> str:
    """The error of a crashed trial: the reason on the first line (the exception line; for a failed
    command, its stderr's last meaningful line), then the job's traceback without orch's frames."""
    from orchestrator.errors import OrchError

    if _is_command_failure(e):
        return str(e)[-limit:] if len(str(e)) > limit else str(e)
    te = traceback.TracebackException.from_exception(e)
    _user_frames(te)
    message = str(e).strip()
    if isinstance(e, OrchError):
        reason = message.splitlines()[0] if message else type(e).__name__
    else:
        reason = f"{type(e).__name__}: {message.splitlines()[0]}" if message else type(e).__name__
    trace = "".join(te.format())
    if len(trace) > limit:
        trace = "..." + trace[-limit:]
    return f"{reason}\n{trace}"


def run_job(job: JobSpec, config: dict[str, Any], budget: float | None, ctx: Any) -> dict[str, float]:
    if job.kind == "command":
        from jobs import command

        return command.run(config, budget, ctx)
    from jobs.registry import get_job

    return get_job(job.name).run(config, budget, ctx)


def run_trial_dir(trial_dir: str | Path) -> dict[str, Any]:
    """Run one trial; returns the result dict it wrote (also what submitit pickles)."""
    from jobs.context import JobContext

    paths = TrialPaths(Path(trial_dir))
    if paths.result.exists():
        # the scheduler re-ran a job whose result had already landed (a requeue after a node failure):
        # a finished trial never runs again
        print(f"[orch] {paths.result} exists: trial already finished, not running it again", flush=True)
        return dict(read_json(paths.result, "result file"))
    spec = read_json(paths.config, "trial config")
    trial = Trial.from_dict(spec["trial"])
    job = JobSpec.from_dict(spec["job"])
    budget = spec.get("budget")
    objective = str(spec["objective"])
    options = dict(job.options)
    if job.kind == "command":
        options.update(command=job.command, cwd=job.cwd)
    ctx = JobContext(trial_id=trial.trial_id, trial_dir=paths.dir, budget=None if budget is None else float(budget),
                     seed=trial.seed, options=options, attempt=trial.attempt)
    node = socket.gethostname()
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID", "")
    if job_id:
        job_id = f"{job_id}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    else:
        job_id = os.environ.get("SLURM_JOB_ID", "")
    # the controller tells a job that failed before this point (a launch failure) from a crash of the trial
    atomic_write_json(paths.started, {"attempt": trial.attempt, "job_id": job_id, "node": node, "t": time.time(),
                                      "gpus": ctx.gpus})
    source = spec.get("warm_start_from")
    if source and not any(paths.checkpoint.glob("*")) and Path(source).is_dir():
        shutil.copytree(source, paths.checkpoint, dirs_exist_ok=True)  # a promotion continues the lower budget
        print(f"[orch] continuing from the checkpoint in {source}", flush=True)
    previous = signal.signal(signal.SIGTERM, _on_term)
    # submitit asks SLURM for USR2 before the time limit and would requeue or fail the job on it;
    # orch retries timeouts itself (a new attempt resuming from the trial's checkpoint): ignore it.
    previous_usr2 = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    started = time.time()
    try:
        metrics = run_job(job, trial.config, ctx.budget, ctx)
        wall = time.time() - started
        value = metrics.get(objective)
        if value is None or not math.isfinite(float(value)):
            status, error, value = TrialStatus.CRASHED, f"job reported no finite '{objective}' (metrics: {sorted(metrics)})", None
        else:
            status, error = TrialStatus.SUCCESS, ""
    except Stopped:
        raise
    except Exception as e:  # the trial's own failure: a CRASHED result, its reason first
        wall = time.time() - started
        metrics, value, status = {}, None, TrialStatus.CRASHED
        error = failure_error(e)
        if not _is_command_failure(e):  # a command that exited non-zero has said why on its own stderr
            print(error.split("\n", 1)[-1], file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGUSR2, previous_usr2)
    gpu_hours = float(metrics.pop("gpu_hours", wall * ctx.gpus / 3600.0))
    metrics.setdefault("train_seconds", round(wall, 3))
    result = TrialResult(
        status=status, objective=None if value is None else float(value), metrics=metrics, wall_seconds=wall,
        gpu_hours=gpu_hours, error=error, job_id=job_id, node=node, started=started, finished=time.time(),
        budget=ctx.budget,
    )
    atomic_write_json(paths.result, result.to_dict())
    if not (spec.get("keep_checkpoint") or options.get("keep_checkpoints")):  # finished: they only served a restart
        shutil.rmtree(paths.checkpoint, ignore_errors=True)
    return result.to_dict()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m orchestrator.worker TRIAL_DIR", file=sys.stderr)
        return 2
    try:
        run_trial_dir(args[0])
    except Stopped:
        print("[orch] stopped by SIGTERM; no result written", file=sys.stderr, flush=True)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
