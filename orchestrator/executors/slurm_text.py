"""Pure parsing of what SLURM's commands print: sacct rows, sbatch errors, scontrol config.

Tested with literal text; the real commands are run by executors/slurm.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.executors.base import STATE_STATUS
from orchestrator.trial import TrialStatus

SACCT_FIELDS = "JobID,State,ExitCode,NodeList,Elapsed"

def normalise_state(state: str) -> str:
    """'CANCELLED by 0' -> 'CANCELLED'; 'RUNNING+' -> 'RUNNING'."""
    word = state.strip().split()[0].upper() if state.strip() else "UNKNOWN"
    return word.rstrip("+")


def status_from_slurm(state: str) -> TrialStatus:
    """A state as sacct prints it; an unknown word means the job is still going (keep waiting)."""
    return STATE_STATUS.get(normalise_state(state), TrialStatus.RUNNING)


def is_terminal(state: str) -> bool:
    return status_from_slurm(state).terminal


@dataclass(frozen=True)
class SacctRow:
    job_id: str  # "123", "123_4"
    state: str  # normalised
    exit_code: str
    node: str
    elapsed: str


_ARRAY_RANGE = re.compile(r"^(\d+)_\[([^\]]+)\]$")


def expand_job_ids(job_id: str) -> list[str]:
    """'123_[4-6,9%2]' -> ['123_4', '123_5', '123_6', '123_9']; anything else as itself."""
    m = _ARRAY_RANGE.match(job_id)
    if not m:
        return [job_id]
    base, spec = m.group(1), m.group(2).split("%")[0]
    out = []
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += [f"{base}_{i}" for i in range(int(lo), int(hi) + 1)]
        elif part:
            out.append(f"{base}_{part}")
    return out


def parse_sacct(text: str) -> dict[str, SacctRow]:
    """Parse ``sacct -X -n -P -o JobID,State,ExitCode,NodeList,Elapsed``. Steps ('123.batch') are
    skipped; pending array ranges are expanded; a requeued job's latest record wins."""
    rows: dict[str, SacctRow] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0] or "." in parts[0]:
            continue
        parts += [""] * (5 - len(parts))
        state = normalise_state(parts[1])
        for jid in expand_job_ids(parts[0]):
            rows[jid] = SacctRow(jid, state, parts[2], parts[3], parts[4])
    return rows


def sbatch_error_option(message: str) -> str:
    """The option an sbatch refusal is about, for a one-line error that names it."""
    m = message.lower()
    table = [
        ("invalid account", "--account"), ("invalid qos", "--qos"),
        ("submit limit", "--parallel (the cluster's submit limit)"),
        ("maxsubmit", "--parallel (the cluster's submit limit)"),
        ("accounting/qos policy", "--qos / --time / --parallel (an accounting or QOS limit)"),
        ("partition", "--partition"), ("generic resource", "--gres"), ("gres", "--gres"),
        ("account", "--account"), ("qos", "--qos"), ("feature specification", "--constraint"),
        ("node name", "--exclude"), ("time limit", "--time"), ("--time", "--time"),
        ("memory", "--mem"), ("array", "--parallel (array size)"),
        ("node configuration is not available", "--gres / --cpus-per-task / --mem / --constraint"),
    ]
    for needle, option in table:
        if needle in m:
            return option
    return "sbatch options"


def sbatch_error_text(stderr: str) -> str:
    """The informative line of sbatch's stderr ('sbatch: error: invalid partition specified: x')."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "failure" in low or "invalid" in low:
            return re.sub(r"^(sbatch: error: |allocation failure: )", "", ln)
    return lines[-1] if lines else "sbatch failed"


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as a dict (keys as printed, e.g. 'MaxArraySize')."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def max_array_size(config: dict[str, str], default: int = 1001) -> int:
    try:
        return max(1, int(config.get("MaxArraySize", default)))
    except ValueError:
        return default
