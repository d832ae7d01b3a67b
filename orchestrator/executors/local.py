"""Local executor: each trial is its own worker process (``python -m orchestrator.worker DIR``).

A crash, ``sys.exit`` or segfault in a trial ends only that process. Workers run in their own
session, so a controller killed with SIGKILL leaves them running, and a resumed controller finds
them again by pid and start time instead of starting the trial twice. On a machine with GPUs each
trial sees one of them (``CUDA_VISIBLE_DEVICES``), the least busy, so ``--parallel N`` spreads
trials over the GPUs and each trial's GPU-hours are counted. With a time limit, a trial that runs
past it is stopped (SIGTERM to its process group, SIGKILL after a grace) and ends TIMEOUT, which
the study loop retries like SLURM's TIMEOUT. ``halt`` ends one trial the same way (its strategy
stopped or paused it on its learning curve); its checkpoint stays.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.executors.base import Executor, Handle, Outcome, tail
from orchestrator.executors.profile import format_seconds
from orchestrator.failures import last_meaningful_line
from orchestrator.store.paths import TrialPaths
from orchestrator.trial import Trial


@dataclass
class _Running:
    handle: Handle
    paths: TrialPaths
    pid: int
    start_ticks: int | None
    proc: subprocess.Popen[bytes] | None  # None when re-attached (not our child)
    gpu: str | None = None
    started: float | None = None  # wall clock at submission (time.time())
    stopped_at: float | None = None  # when the time limit's SIGTERM went out
    halted_at: float | None = None  # when halt()'s SIGTERM went out


def visible_gpus(environ: dict[str, str] | None = None, dev: str = "/dev") -> list[str]:
    """The GPUs trials may use: ``CUDA_VISIBLE_DEVICES`` when set (empty or -1: none), else the
    NVIDIA devices under /dev (no CUDA import in the controller)."""
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in env:
        from jobs.context import cuda_visible_devices

        return cuda_visible_devices(env["CUDA_VISIBLE_DEVICES"])
    try:
        names = os.listdir(dev)
    except OSError:
        return []
    return sorted((n[len("nvidia"):] for n in names if re.fullmatch(r"nvidia\d+", n)), key=int)


def _start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot (field 22 of /proc/PID/stat); None if the
    process is gone or a zombie (an orphan nobody reaped has still ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    try:
        fields = stat[stat.rindex(")") + 2:].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (ValueError, IndexError):
        return None


def handle_alive(data: dict[str, Any]) -> bool | None:
    """Is the worker of a local handle (as the journal keeps it) still running? None: not a local
    handle of this machine, so this process cannot tell."""
    if data.get("backend") != "local" or data.get("host") != socket.gethostname():
        return None
    pid = int(data.get("pid", -1))
    return pid > 0 and _start_ticks(pid) == data.get("start")


class LocalExecutor(Executor):
    name = "local"
    batches = False

    def __init__(self, parallel: int = 1, python: str | None = None, env: dict[str, str] | None = None,
                 time_limit: float | None = None, grace: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        """``time_limit``: seconds a trial may run (None: no limit; see ``profile.parse_time`` for
        SLURM-style strings); ``grace``: seconds between the SIGTERM and the SIGKILL of a trial past it."""
        self.parallel = max(1, parallel)
        self.python = python or sys.executable
        self._env = env or {}
        self._running: dict[str, _Running] = {}
        self.gpus = visible_gpus()
        self.time_limit = time_limit if time_limit and time_limit > 0 else None
        self.grace = grace
        self.clock = clock

    def _next_gpu(self) -> str | None:
        if not self.gpus:
            return None
        busy = [r.gpu for r in self._running.values()]
        return min(self.gpus, key=busy.count)  # ties: the first listed

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        cpus = max(1, (os.cpu_count() or 1) // self.parallel)
        env.setdefault("ORCH_CPUS", str(cpus))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(cpus))
        env.update(self._env)
        return env

    def submit(self, trials: Sequence[Trial], paths: Sequence[TrialPaths], throttle: int) -> list[Handle]:
        handles = []
        env = self._environment()
        for trial, tp in zip(trials, paths):
            tp.dir.mkdir(parents=True, exist_ok=True)
            gpu = self._next_gpu()
            trial_env = env if gpu is None else {**env, "CUDA_VISIBLE_DEVICES": gpu}
            with open(tp.stdout, "ab") as out, open(tp.stderr, "ab") as err:
                proc = subprocess.Popen(
                    [self.python, "-m", "orchestrator.worker", str(tp.dir)],
                    stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=trial_env, start_new_session=True,
                )
            ticks = _start_ticks(proc.pid)
            now = self.clock()
            data = {"backend": "local", "pid": proc.pid, "start": ticks, "host": socket.gethostname(), "t": now}
            if gpu is not None:
                data["gpu"] = gpu
            handle = Handle(trial.trial_id, trial.attempt, data)
            self._running[trial.trial_id] = _Running(handle, tp, proc.pid, ticks, proc, gpu, now)
            handles.append(handle)
        return handles

    def reattach(self, trial: Trial, paths: TrialPaths, data: dict[str, Any]) -> Handle | None:
        if data.get("backend") != "local" or data.get("host") != socket.gethostname():
            return None
        pid = int(data.get("pid", -1))
        ticks = _start_ticks(pid) if pid > 0 else None
        if ticks is None or ticks != data.get("start"):
            return None
        handle = Handle(trial.trial_id, trial.attempt, dict(data))
        started = data.get("t")
        self._running[trial.trial_id] = _Running(handle, paths, pid, ticks, None, data.get("gpu"),
                                                 float(started) if isinstance(started, (int, float)) else None)
        return handle

    def poll(self) -> list[Outcome]:
        ended = []
        for trial_id, run in list(self._running.items()):
            if run.proc is not None:
                code = run.proc.poll()
                if code is None:
                    self._enforce_limit(run)
                    continue
            else:
                if _start_ticks(run.pid) == run.start_ticks:
                    self._enforce_limit(run)
                    continue
                code = None
            del self._running[trial_id]
            ended.append(self._outcome(run, code))
        return ended

    def halt(self, trial_id: str) -> None:
        run = self._running.get(trial_id)
        if run is None or run.halted_at is not None:
            return
        run.halted_at = self.clock()
        self._signal(run, signal.SIGTERM)

    def _enforce_limit(self, run: _Running) -> None:
        """A trial past the time limit gets SIGTERM (its process group), and SIGKILL after the grace; so
        does a halted one."""
        now = self.clock()
        if run.halted_at is not None:
            if now - run.halted_at > self.grace:
                self._signal(run, signal.SIGKILL)
            return
        if self.time_limit is None or run.started is None:
            return
        if run.stopped_at is None and now - run.started > self.time_limit:
            run.stopped_at = now
            self._signal(run, signal.SIGTERM)
        elif run.stopped_at is not None and now - run.stopped_at > self.grace:
            self._signal(run, signal.SIGKILL)

    @staticmethod
    def _signal(run: _Running, sig: signal.Signals) -> None:
        try:
            os.killpg(run.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _outcome(self, run: _Running, code: int | None) -> Outcome:
        h = run.handle
        log = tail(run.paths.stderr)
        if run.halted_at is not None:
            return Outcome(h.trial_id, h.attempt, "HALTED", code, "halted by its strategy", job_id=str(run.pid),
                           node=socket.gethostname())
        if run.stopped_at is not None:
            assert self.time_limit is not None
            detail = f"ran past its time limit of {format_seconds(self.time_limit)} and was stopped"
            if log:
                detail = f"{detail}\nstderr tail:\n{log}"
            return Outcome(h.trial_id, h.attempt, "TIMEOUT", code, detail, job_id=str(run.pid),
                           node=socket.gethostname())
        if code is None:
            state, ended = "EXITED", "worker ended while the controller was away (exit status unknown)"
        elif code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            state, ended = "EXITED", f"worker killed by signal {name}"
        else:
            state, ended = "EXITED", f"worker exited with status {code}"
        if code in (-signal.SIGTERM, -signal.SIGINT):
            state = "CANCELLED"
        reason = last_meaningful_line(log)
        detail = f"{reason} ({ended})" if reason else ended
        if log:
            detail = f"{detail}\nstderr tail:\n{log}"
        return Outcome(h.trial_id, h.attempt, state, code, detail, job_id=str(run.pid), node=socket.gethostname())

    def stop(self, cancel: bool) -> None:
        if not cancel:
            self._running.clear()
            return
        for run in self._running.values():
            try:
                os.killpg(run.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + 5
        while time.time() < deadline and any(self._alive(r) for r in self._running.values()):
            time.sleep(0.05)
        for run in self._running.values():
            if self._alive(run):
                try:
                    os.killpg(run.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if run.proc is not None:
                try:
                    run.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self._running.clear()

    @staticmethod
    def _alive(run: _Running) -> bool:
        if run.proc is not None:
            return run.proc.poll() is None
        return _start_ticks(run.pid) == run.start_ticks

    @property
    def in_flight(self) -> int:
        return len(self._running)
