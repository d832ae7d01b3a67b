"""SLURM executor through submitit: the only module that imports submitit.

Trials go out as job arrays (``map_array``) with a ``%N`` throttle, split at the cluster's
MaxArraySize; a later array's throttle is raised with ``scontrol update`` as earlier arrays drain,
so that no more than N trials run at once. Result files on the shared filesystem decide success;
one batched ``sacct`` per poll, with back-off, explains jobs that ended without one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, SubmissionError
from orchestrator.executors.base import Executor, Handle, Outcome, tail
from orchestrator.executors.profile import SlurmOptions
from orchestrator.executors.slurm_text import (
    SACCT_FIELDS,
    is_terminal,
    max_array_size,
    parse_config,
    parse_sacct,
    sbatch_error_option,
    sbatch_error_text,
)
from orchestrator.store.atomic import refresh
from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial

SCHEDULER_COMMANDS = ("sbatch", "sacct", "scontrol", "scancel", "srun", "squeue")
RESULT_GRACE_S = 5.0  # wait this long after sacct says "ended" for a result file to appear (NFS)
#: sbatch options submitit takes as parameters of its own; the others (mem and time as the user wrote
#: them, --sbatch-extra) go through its additional_parameters unchanged
_SUBMITIT_NATIVE = frozenset({"partition", "gres", "gpus_per_node", "cpus_per_task", "account", "qos", "constraint",
                              "exclude", "job_name"})


def slurm_available() -> bool:
    return all(shutil.which(c) for c in SCHEDULER_COMMANDS)


@dataclass
class _Run:
    handle: Handle
    paths: TrialPaths
    job_id: str
    array_id: str
    state: str = "PENDING"
    ended_at: float | None = None  # when sacct first said it ended without a result
    halted: bool = False  # scancel'd by halt(): its strategy stopped or paused it
    node: str = ""
    exit_code: str = ""


@dataclass
class _Array:
    array_id: str
    throttle: int
    target: int
    task_ids: list[str] = field(default_factory=list)


@dataclass
class SchedulerStats:
    sacct_calls: int = 0
    sbatch_calls: int = 0
    scontrol_calls: int = 0
    scancel_calls: int = 0
    squeue_calls: int = 0
    arrays: int = 0
    jobs: int = 0


def run_trial(trial_dir: str) -> dict[str, Any]:
    """The function submitit runs inside the job (a module-level function, so it pickles by name)."""
    from orchestrator.worker import run_trial_dir

    return run_trial_dir(trial_dir)


class SlurmExecutor(Executor):
    name = "slurm"
    batches = True
    cancel_on_interrupt = False  # Ctrl-C detaches: the jobs keep running and resume re-attaches

    def __init__(self, options: SlurmOptions, folder: Path, parallel: int,
                 run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
                 clock: Callable[[], float] = time.time, sacct_min_s: float = 2.0, sacct_max_s: float = 20.0) -> None:
        check_commands()
        self.options = options
        self.folder = Path(folder)
        self.parallel = max(1, parallel)
        self._run = run
        self._clock = clock
        self._runs: dict[str, _Run] = {}
        self._arrays: dict[str, _Array] = {}
        self._sacct_min, self._sacct_max = sacct_min_s, sacct_max_s
        self._sacct_interval = sacct_min_s
        self._next_sacct = 0.0
        self.stats = SchedulerStats()
        self._max_array: int | None = None
        options.extra_parameters()  # validates --sbatch-extra early

    # --- cluster facts and validation -----------------------------------------------------------

    def _cmd(self, args: list[str], what: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _scheduler(self._run, args, what, timeout)

    @property
    def max_array(self) -> int:
        if self._max_array is None:
            self.stats.scontrol_calls += 1
            self._max_array = cluster_max_array(self._run)
        return self._max_array

    def validate(self) -> None:
        """Ask sbatch whether these options could run (``--test-only``); nothing is submitted."""
        self.stats.sbatch_calls += 1
        validate_options(self.options, self._run)

    # --- submission -----------------------------------------------------------------------------

    def _executor(self, throttle: int) -> Any:
        import submitit

        o = self.options
        ex = submitit.SlurmExecutor(folder=str(self.folder), python=o.python, max_num_timeout=0)
        native: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for flag, value in o.sbatch_parameters().items():
            key = flag.replace("-", "_")
            (native if key in _SUBMITIT_NATIVE else extra)[key] = value
        native.setdefault("job_name", "orch")
        ex.update_parameters(time=None, setup=list(o.setup) or None, array_parallelism=max(1, throttle),
                             additional_parameters=extra or None, **native)
        return ex

    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        if len(trials) > self.max_array:
            raise ValueError(f"batch of {len(trials)} exceeds MaxArraySize {self.max_array}: split it")
        others = len(self._runs)
        current = max(1, min(len(trials), throttle - others)) if len(trials) > 1 else 1
        ex = self._executor(current)
        dirs = [str(p.dir) for p in paths]
        err = io.StringIO()
        from submitit.helpers import clean_env

        try:
            # clean_env: a controller that runs inside a SLURM job (--detach) must not hand its own
            # SLURM_* variables (memory, gres, ...) to the trials it submits
            with clean_env(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                jobs = ex.map_array(run_trial, dirs) if len(dirs) > 1 else [ex.submit(run_trial, dirs[0])]
        except Exception as e:  # submitit wraps sbatch's refusal in FailedJobError
            raise self._submission_error(str(e) or err.getvalue()) from None
        self.stats.sbatch_calls += 1
        self.stats.jobs += len(jobs)
        handles = []
        array_id = str(jobs[0].job_id).split("_")[0]
        if len(jobs) > 1:
            self.stats.arrays += 1
            self._arrays[array_id] = _Array(array_id, current, min(len(jobs), throttle),
                                            [str(j.job_id) for j in jobs])
        for trial, tp, job in zip(trials, paths, jobs):
            jid = str(job.job_id)
            handle = Handle(trial.trial_id, trial.attempt, {"backend": "slurm", "job_id": jid, "array": array_id})
            self._runs[trial.trial_id] = _Run(handle, tp, jid, array_id)
            handles.append(handle)
        self._next_sacct = 0.0  # look soon: the new jobs' states decide when the next array may go
        self._sacct_interval = self._sacct_min
        return handles

    def accepting_batch(self) -> bool:
        """A new array may go out once every submitted task has started (none still PENDING)."""
        return not any(r.state == "PENDING" for r in self._runs.values())

    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        if data.get("backend") != "slurm" or not data.get("job_id"):
            return None
        jid = str(data["job_id"])
        handle = Handle(trial.trial_id, trial.attempt, dict(data))
        self._runs[trial.trial_id] = _Run(handle, paths, jid, str(data.get("array") or jid.split("_")[0]),
                                          state="UNKNOWN")
        self._next_sacct = 0.0
        return handle

    def halt(self, trial_id: str) -> None:
        """scancel one trial's job (SIGTERM to its steps: the worker exits, the checkpoint stays)."""
        run = self._runs.get(trial_id)
        if run is None or run.halted:
            return
        run.halted = True
        self.stats.scancel_calls += 1
        self._cmd(["scancel", run.job_id], "scancel")
        self._next_sacct = 0.0  # its end decides what happens next: look soon
        self._sacct_interval = self._sacct_min

    # --- status ---------------------------------------------------------------------------------

    def poll(self) -> list[Outcome]:
        now = self._clock()
        ended: list[Outcome] = []
        for tid, run in list(self._runs.items()):
            if run.paths.result.exists():
                del self._runs[tid]
                ended.append(self._outcome(run, "COMPLETED"))
        if ended:  # activity: look sooner (pending tasks have probably started), but no sacct storm
            self._sacct_interval = max(self._sacct_min, self._sacct_interval / 2)
            self._next_sacct = min(self._next_sacct, now + self._sacct_interval)
        if self._runs and now >= self._next_sacct:
            ended += self._poll_sacct(now)
        self._raise_throttles()
        return ended

    def _poll_sacct(self, now: float) -> list[Outcome]:
        ids = sorted({r.array_id if r.array_id in self._arrays else r.job_id for r in self._runs.values()})
        self.stats.sacct_calls += 1
        p = self._cmd(["sacct", "-X", "-n", "-P", "-o", SACCT_FIELDS, "-j", ",".join(ids)], "sacct")
        changed = False
        ended: list[Outcome] = []
        if p.returncode == 0:  # a failing sacct is bypassed: states stay as they were
            rows = parse_sacct(p.stdout)
            candidates: list[tuple[str, _Run, str]] = []
            for tid, run in list(self._runs.items()):
                row = rows.get(run.job_id)
                if row is None:
                    continue
                if row.state != run.state:
                    changed = True
                    run.state, run.node, run.exit_code = row.state, row.node, row.exit_code
                if not is_terminal(row.state):
                    run.ended_at = None
                    continue
                if run.ended_at is None:
                    run.ended_at = now
                refresh(run.paths.result)
                if run.paths.result.exists():
                    del self._runs[tid]
                    ended.append(self._outcome(run, "COMPLETED"))
                elif now - run.ended_at >= RESULT_GRACE_S or row.state in ("FAILED", "CANCELLED", "TIMEOUT",
                                                                            "OUT_OF_MEMORY"):
                    candidates.append((tid, run, row.state))
            # SLURM requeues a requeue-able job after NODE_FAIL or preemption: one that is back in the
            # queue is still this attempt (retrying it ourselves would run the trial twice)
            queued = self._in_queue([r.job_id for _, r, st in candidates if st in ("NODE_FAIL", "PREEMPTED")])
            for tid, run, state in candidates:
                if run.job_id in queued:
                    run.state, run.ended_at = "PENDING", None
                    continue
                del self._runs[tid]
                ended.append(self._outcome(run, state))
        pending_grace = any(r.ended_at is not None for r in self._runs.values())
        if changed or ended or pending_grace:
            self._sacct_interval = self._sacct_min
        else:
            self._sacct_interval = min(self._sacct_interval * 2, self._sacct_max)
        self._next_sacct = now + self._sacct_interval
        return ended

    def _in_queue(self, job_ids: list[str]) -> set[str]:
        if not job_ids:
            return set()
        self.stats.squeue_calls += 1
        p = self._cmd(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T"], "squeue")
        if p.returncode != 0:
            return set()
        return {line.split("|")[0].strip() for line in p.stdout.splitlines() if line.strip()}

    def _raise_throttles(self) -> None:
        """Let the newest array use the slots older arrays have given back (`scontrol update`)."""
        live = {r.array_id for r in self._runs.values()}
        for aid in list(self._arrays):
            if aid not in live:
                del self._arrays[aid]
        if not self._arrays:
            return
        newest = self._arrays[max(self._arrays, key=lambda a: int(a) if a.isdigit() else 0)]
        busy_elsewhere = sum(1 for r in self._runs.values() if r.array_id != newest.array_id)
        allowed = max(1, min(newest.target, self.parallel - busy_elsewhere))
        if allowed > newest.throttle:
            self.stats.scontrol_calls += 1
            p = self._cmd(["scontrol", "update", f"JobId={newest.array_id}", f"ArrayTaskThrottle={allowed}"],
                          "scontrol update")
            if p.returncode == 0:
                newest.throttle = allowed

    def _outcome(self, run: _Run, state: str) -> Outcome:
        h = run.handle
        detail = ""
        if run.halted and not run.paths.result.exists():
            return Outcome(h.trial_id, h.attempt, "HALTED", None, f"SLURM job {run.job_id} halted by its strategy",
                           job_id=run.job_id, node=run.node)
        if state == "FAILED" and not run.paths.result.exists() and not _worker_started(run):
            # the job failed before orch's worker ran any of the trial: srun could not launch the step
            # (slurmd died on a failing node, a broken node): not the trial's fault, so it is retried
            state = "LAUNCH_FAILED"
        if state != "COMPLETED" or not run.paths.result.exists():
            log = tail(self.log_path(run.job_id, "err"))
            code = f" (exit code {run.exit_code})" if run.exit_code and run.exit_code != "0:0" else ""
            ended = "FAILED before the trial started" if state == "LAUNCH_FAILED" else f"ended {state}"
            detail = f"SLURM job {run.job_id} {ended}{code} without a result file"
            if log:
                detail += f"; log tail ({self.log_path(run.job_id, 'err')}):\n{log}"
        return Outcome(h.trial_id, h.attempt, state, None, detail, job_id=run.job_id, node=run.node)

    def log_path(self, job_id: str, kind: str = "err") -> Path:
        return self.folder / f"{job_id}_0_log.{kind}"

    # --- leaving --------------------------------------------------------------------------------

    def stop(self, cancel: bool) -> None:
        if cancel and self._runs:
            ids = sorted({r.job_id for r in self._runs.values()})
            self.stats.scancel_calls += 1
            self._cmd(["scancel", *ids], "scancel")
        self._runs.clear()
        self._arrays.clear()

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    def poll_interval(self) -> float:
        return 0.25


#: the options a detached controller (a small CPU job) takes from the trials' own
CONTROLLER_OPTIONS = ("partition", "time", "account", "qos", "mem")


def submit_controller(options: SlurmOptions, argv: list[str], log_dir: Path, job_name: str) -> str:
    """Run `orch tune --resume STUDY` itself as a small CPU job (`--detach`); returns the job id."""
    log_dir.mkdir(parents=True, exist_ok=True)
    flags = [f"--job-name={job_name}", f"--output={log_dir / 'controller-%j.log'}", "--cpus-per-task=1",
             *options.sbatch_flags(only=CONTROLLER_OPTIONS)]
    if options.mem is None:
        flags.append("--mem=2G")
    script = "\n".join(["#!/bin/bash", *options.setup, " ".join(_quote(a) for a in argv), ""])
    p = subprocess.run(["sbatch", "--parsable", *flags], input=script, capture_output=True, text=True,
                       env={**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")})
    if p.returncode != 0:
        text = sbatch_error_text(p.stderr)
        raise SubmissionError(f"--detach ({sbatch_error_option(text)}): sbatch refused the controller job: {text}")
    return p.stdout.strip().split(";")[0]


def validate_options(options: SlurmOptions, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
                     ) -> None:
    """Ask sbatch whether trials with these options could run (``--test-only``); nothing is submitted.
    Raises ConfigError without SLURM and SubmissionError (naming the option) when sbatch refuses."""
    check_commands()
    p = _scheduler(run, ["sbatch", "--test-only", *options.sbatch_flags(), "--wrap", "true"], "sbatch --test-only")
    if p.returncode != 0:
        raise submission_error(options, p.stderr)


def cluster_max_array(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> int:
    """The cluster's MaxArraySize (`scontrol show config`; 1001 when it cannot be read)."""
    p = _scheduler(run, ["scontrol", "show", "config"], "scontrol")
    return max_array_size(parse_config(p.stdout)) if p.returncode == 0 else 1001


def submission_error(options: SlurmOptions, stderr: str) -> SubmissionError:
    """sbatch's refusal as one line naming the option (and the value given)."""
    text = sbatch_error_text(stderr)
    option = sbatch_error_option(text)
    value = getattr(options, option.lstrip("-").replace("-", "_"), None) if " " not in option else None
    given = f" ({option}={value})" if value is not None else ""
    return SubmissionError(f"{option}: sbatch refused the job: {text}{given}")


def check_commands() -> None:
    if not slurm_available():
        missing = [c for c in SCHEDULER_COMMANDS if not shutil.which(c)]
        raise ConfigError(f"--executor slurm: SLURM commands not found on PATH ({', '.join(missing)})")


def _scheduler(run: Callable[..., subprocess.CompletedProcess[str]], args: list[str], what: str,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A scheduler command without the SLURM_* variables of a job this controller may run in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    try:
        return run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(args, 1, "", f"{what} failed: {e}")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def orch_argv(args: list[str]) -> list[str]:
    """How to run orch again inside a job: this interpreter, this package."""
    return [sys.executable, "-m", "orchestrator.cli", *args]


def _worker_started(run: _Run) -> bool:
    """Did orch's worker start this attempt of the trial (its started.json names the attempt)?"""
    path = run.paths.started
    refresh(path)
    try:
        return int(json.loads(path.read_text()).get("attempt", -1)) == run.handle.attempt
    except FileNotFoundError:
        return False
    except (OSError, ValueError, AttributeError, TypeError):
        return True  # there but unreadable: the worker got that far
