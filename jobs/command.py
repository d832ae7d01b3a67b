"""The user's own training command as a trial.

``{name}`` placeholders in the command are replaced by the configuration's values (shell-quoted),
plus ``{trial_id}``, ``{trial_dir}``, ``{budget}``/``{epochs}`` and ``{seed}``. A placeholder without a
value (an inactive conditional hyperparameter) leaves out its ``--flag {x}`` pair, or renders its
default ``{x:-DEFAULT}``; ``check_command`` refuses any other use of it before a study starts. The command gets
ORCH_TRIAL_ID, ORCH_TRIAL_DIR, ORCH_CONFIG_FILE (the configuration as JSON), ORCH_RESULT_FILE (where
it writes its metrics as a JSON object), ORCH_BUDGET, ORCH_SEED, ORCH_CHECKPOINT_DIR and
ORCH_PROGRESS_FILE (where it may append one JSON line per epoch, ``{"epoch": 3, "val_loss": 0.21}``:
the learning curve that ASHA stops or pauses the trial on; save the checkpoint first). A
non-zero exit or no metrics file is a crash: its reason is the last meaningful line of the command's
stderr (the first line of the error), then the exit status and the stderr tail.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import signal
import string
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobs.context import JobContext, Stopped

BUILTIN_FIELDS = ("trial_id", "trial_dir", "budget", "epochs", "seed")
# ``--flag {x}`` or ``--flag={x}`` at the end of the text before a placeholder: the pair is dropped
# when the placeholder has no value (an inactive conditional hyperparameter, no budget)
_FLAG_BEFORE = re.compile(r"(?:^|(?<=\s))-{1,2}[A-Za-z][\w.-]*(?:=|\s+)$")


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class _Slot:
    """One ``{field}`` of a command template, with what it needs to render when it has no value."""

    literal: str  # the text before it
    field: str
    spec: str
    conversion: str | None
    droppable: bool  # a ``--flag {x}`` pair that can be left out as a whole

    @property
    def name(self) -> str:
        return self.field.split(".")[0].split("[")[0]

    @property
    def default(self) -> str | None:
        """The text after ``:-`` in ``{x:-0.9}``: rendered when ``x`` has no value."""
        return self.spec[1:] if self.spec.startswith("-") else None


def _parse(command: str) -> tuple[list[_Slot], str]:
    """The template's slots in order and the literal text after the last one (ValueError when malformed)."""
    parts = list(string.Formatter().parse(command))
    slots: list[_Slot] = []
    pending = ""  # literal text not yet attached to a slot (``{{`` escapes come as parts of their own)
    for i, (literal, field, spec, conversion) in enumerate(parts):
        pending += literal
        if field is None:
            continue
        after = parts[i + 1][0] if i + 1 < len(parts) else ""
        ends = i + 1 == len(parts) or after[:1].isspace()
        slots.append(_Slot(pending, field, spec or "", conversion, bool(_FLAG_BEFORE.search(pending)) and ends))
        pending = ""
    return slots, pending


def placeholders(command: str) -> list[str]:
    """The ``{field}`` names a command template uses (raises ValueError on a malformed template)."""
    return [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]


def check_template(command: str, names: Iterable[str]) -> list[str]:
    """Placeholders that are neither hyperparameters nor built-in fields."""
    known = set(names) | set(BUILTIN_FIELDS)
    return [f for f in placeholders(command) if f.split(".")[0].split("[")[0] not in known]


def unrenderable(command: str, conditional: Iterable[str]) -> list[str]:
    """Placeholders of conditional hyperparameters with no rendering for a configuration where they are
    inactive: neither the value of a ``--flag {x}`` pair (dropped) nor given a default ``{x:-DEFAULT}``."""
    cond = set(conditional)
    slots, _ = _parse(command)
    bare = [s.field for s in slots if s.name in cond and not s.droppable and s.default is None]
    return list(dict.fromkeys(bare))


def conditional_names(space: Any) -> list[str]:
    """The hyperparameters of a ConfigSpace that are inactive in some configurations."""
    return [str(n) for n in getattr(space, "conditional_hyperparameters", ())]


def check_command(command: str, names: Iterable[str], conditional: Iterable[str] = ()) -> None:
    """Refuse, before a study starts, a command template that cannot be rendered for every configuration:
    malformed, a placeholder that is not a hyperparameter, or a bare placeholder of a conditional one."""
    from orchestrator.errors import ConfigError

    names = list(names)
    try:
        unknown = check_template(command, names)
        bare = unrenderable(command, conditional)
    except ValueError as e:
        raise ConfigError(f"--command: malformed template: {e}") from None
    if unknown:
        raise ConfigError(f"--command: placeholder(s) {', '.join('{' + u + '}' for u in unknown)} are not "
                          f"hyperparameters of the space ({', '.join(names)})")
    if bare:
        first = bare[0]
        raise ConfigError(
            f"--command: {{{first}}} is a conditional hyperparameter, inactive in some configurations, and would "
            f"render as nothing: write it as a flag pair '--{first} {{{first}}}' (left out when inactive) or give "
            f"a default '{{{first}:-VALUE}}'" + (f" (also: {', '.join('{' + b + '}' for b in bare[1:])})" if bare[1:] else ""))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return shlex.quote(str(value))


def _values(config: dict[str, Any], ctx: JobContext) -> dict[str, str]:
    """Each placeholder's text; a name without a value (inactive, no budget) is absent."""
    fields = {"trial_id": ctx.trial_id, "trial_dir": shlex.quote(str(ctx.trial_dir)), "seed": str(ctx.seed)}
    epochs = ctx.budget if ctx.budget is not None else ctx.options.get("epochs")
    if ctx.budget is not None:
        fields["budget"] = f"{ctx.budget:g}"
    if epochs not in (None, ""):
        fields["epochs"] = f"{float(epochs):g}"
    values = {k: _fmt(v) for k, v in config.items() if v is not None}
    if ctx.budget is not None and "epochs" in values:  # a multi-fidelity budget wins over the space's epochs
        values.pop("epochs")
    return {**fields, **values}


def render(command: str, config: dict[str, Any], ctx: JobContext) -> str:
    """The command for one configuration. A placeholder without a value (an inactive conditional
    hyperparameter, ``{budget}`` without a budget) renders its default ``{x:-DEFAULT}``, or drops its
    ``--flag {x}`` / ``--flag={x}`` pair; a bare one is an error (``check_command`` refuses it at start)."""
    values = _values(config, ctx)
    slots, tail = _parse(command)
    out: list[str] = []
    fmt = string.Formatter()
    for slot in slots:
        literal = slot.literal
        value = values.get(slot.name)
        if value is not None:
            text = fmt.format_field(fmt.convert_field(value, slot.conversion), "" if slot.default is not None else slot.spec)
        elif slot.default is not None:
            text = slot.default
        elif slot.droppable:
            literal, text = _FLAG_BEFORE.sub("", literal).rstrip(), ""
        else:
            raise CommandFailed(f"placeholder {{{slot.field}}} has no value in this configuration (an inactive "
                                f"conditional hyperparameter?): write '--{slot.name} {{{slot.field}}}' or "
                                f"'{{{slot.field}:-DEFAULT}}'")
        out.append(literal + text)
    return "".join(out) + tail


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
               ORCH_BUDGET="" if budget is None else f"{budget:g}", ORCH_CHECKPOINT_DIR=str(ctx.checkpoint_dir),
               ORCH_PROGRESS_FILE=str(ctx.progress_file))
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
    except BaseException:  # stopped (a time limit, a cancel): the command must not outlive the trial
        _stop(proc)
        raise
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
        raise CommandFailed(failure_text(code, tail_text))
    if not result_file.exists():
        raise CommandFailed(f"command exited 0 but wrote no metrics to $ORCH_RESULT_FILE ({result_file})"
                            + (f"\nstderr tail:\n{tail_text}" if tail_text else ""))
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


STOP_GRACE = 5.0  # seconds a stopped command gets between SIGTERM and SIGKILL


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL what is left after ``STOP_GRACE``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=STOP_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


def failure_text(code: int, stderr_tail: str) -> str:
    """A failed command's error: the reason (the last meaningful line of its stderr, or how it ended)
    on the first line, then the exit status and the stderr tail."""
    from orchestrator.failures import last_meaningful_line

    if code < 0:
        try:
            ended = f"command killed by {signal.Signals(-code).name}"
        except ValueError:
            ended = f"command killed by signal {-code}"
    else:
        ended = f"command exited with status {code}"
    reason = last_meaningful_line(stderr_tail)
    if not reason:
        return f"{ended} (nothing on stderr)"
    if code < 0:
        reason = f"{ended}: {reason}"
    return f"{reason}\n{ended}; stderr tail:\n{stderr_tail}"
