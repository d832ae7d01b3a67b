"""The user's own training command as a trial.

``{name}`` placeholders in the command are replaced by the configuration's values (shell-quoted),
plus ``{trial_id}``, ``{trial_dir}``, ``{budget}``/``{epochs}`` and ``{seed}``. The command gets
ORCH_TRIAL_ID, ORCH_TRIAL_DIR, ORCH_CONFIG_FILE (the configuration as JSON), ORCH_RESULT_FILE (where
it writes its metrics as a JSON object), ORCH_BUDGET, ORCH_SEED and ORCH_CHECKPOINT_DIR. A
non-zero exit or no metrics file is a crash, reported with the tail of the command's stderr.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import string
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import Any

from jobs.context import JobContext, Stopped

BUILTIN_FIELDS = ("trial_id", "trial_dir", "budget", "epochs", "seed")


class CommandFailed(RuntimeError):
    pass


def placeholders(command: str) -> list[str]:
    """The ``{field}`` names a command template uses (raises ValueError on a malformed template)."""
    return [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]


def check_template(command: str, names: Iterable[str]) -> list[str]:
    """Placeholders that are neither hyperparameters nor built-in fields."""
    known = set(names) | set(BUILTIN_FIELDS)
    return [f for f in placeholders(command) if f.split(".")[0].split("[")[0] not in known]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return shlex.quote(str(value))


def render(command: str, config: dict[str, Any], ctx: JobContext) -> str:
    budget = "" if ctx.budget is None else f"{ctx.budget:g}"
    fields = {k: _fmt(v) for k, v in config.items()}
    fields.update(trial_id=ctx.trial_id, trial_dir=shlex.quote(str(ctx.trial_dir)), budget=budget,
                  epochs=budget, seed=str(ctx.seed))
    return command.format_map(collections.defaultdict(str, fields))


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    command = str(ctx.options["command"])
    cwd = ctx.options.get("cwd") or None
    result_file = ctx.trial_dir / "metrics.json"
    config_file = ctx.trial_dir / "params.json"
    result_file.unlink(missing_ok=True)
    config_file.write_text(json.dumps(config, indent=2))
    env = dict(os.environ)
    env.update(ORCH_TRIAL_ID=ctx.trial_id, ORCH_TRIAL_DIR=str(ctx.trial_dir), ORCH_CONFIG_FILE=str(config_file),
               ORCH_RESULT_FILE=str(result_file), ORCH_SEED=str(ctx.seed),
               ORCH_BUDGET="" if budget is None else f"{budget:g}", ORCH_CHECKPOINT_DIR=str(ctx.checkpoint_dir))
    rendered = render(command, config, ctx)
    print(f"[orch] $ {rendered}", flush=True)
    proc = subprocess.Popen(["/bin/sh", "-c", rendered], cwd=cwd, env=env, stdout=sys.stdout.fileno(),
                            stderr=subprocess.PIPE, start_new_session=True)
    last: collections.deque[str] = collections.deque(maxlen=30)

    def pump() -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            last.append(line.rstrip("\n"))
            sys.stderr.write(line)
            sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    previous = signal.getsignal(signal.SIGTERM)

    def forward(signum: int, frame: Any) -> None:  # preemption / cancel: stop the command too
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, forward)
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    reader.join(timeout=5)
    tail_text = "\n".join(last)
    if code == -signal.SIGTERM:
        # SLURM signals every process of the job at a time limit, a preemption or scancel; when the
        # command dies before this worker's own handler runs, the attempt was still stopped from
        # outside, not failed: no result, so the scheduler's state decides (TIMEOUT is retried)
        raise Stopped("the command was stopped by SIGTERM")
    if code != 0:
        raise CommandFailed(f"command exited with status {code}" + (f"; stderr tail:\n{tail_text}" if tail_text else ""))
    if not result_file.exists():
        raise CommandFailed(f"command exited 0 but wrote no metrics to $ORCH_RESULT_FILE ({result_file})"
                            + (f"; stderr tail:\n{tail_text}" if tail_text else ""))
    try:
        data = json.loads(result_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise CommandFailed(f"{result_file}: metrics are not valid JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    if not isinstance(data, dict):
        raise CommandFailed(f"{result_file}: expected a JSON object of metric name -> number")
    metrics = {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not metrics:
        raise CommandFailed(f"{result_file}: no numeric metrics in {data!r}"[:500])
    return metrics
