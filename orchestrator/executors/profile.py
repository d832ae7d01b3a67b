"""SLURM job options (partition, gres, cpus, mem, time, ...) and cluster profiles in TOML.

Precedence: command-line option > profile file > built-in default. A profile is looked up from
--profile, else $ORCH_PROFILE, else ./orch-cluster.toml, else ~/.config/orch/cluster.toml.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

_LIST_KEYS = ("setup", "sbatch_extra")
#: SlurmOptions field -> sbatch option, in the order scripts list them: the one mapping used by the
#: executor (through submitit), `sbatch --test-only`, `--detach` and the array templates
SBATCH_FIELDS = (("partition", "partition"), ("gres", "gres"), ("gpus_per_node", "gpus-per-node"),
                 ("cpus_per_task", "cpus-per-task"), ("mem", "mem"), ("time", "time"), ("account", "account"),
                 ("qos", "qos"), ("constraint", "constraint"), ("exclude", "exclude"), ("job_name", "job-name"))


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gres: str | None = None
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    time: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    exclude: str | None = None
    job_name: str | None = None
    sbatch_extra: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    python: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        for k in _LIST_KEYS:
            if k in d:
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "options") -> SlurmOptions:
        known = {f.name for f in fields(cls)}
        clean: dict[str, Any] = {}
        for key, value in d.items():
            k = key.replace("-", "_")
            if k == "kind":
                continue
            if k not in known:
                raise ConfigError(f"{source}: unknown SLURM option '{key}' (known: {', '.join(sorted(known))})")
            if value is None:
                continue
            if k in _LIST_KEYS:
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{source}: '{key}' must be a list of strings")
                value = tuple(value)
            elif k in ("gpus_per_node", "cpus_per_task"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"{source}: '{key}' must be a positive integer, got {value!r}")
            else:
                value = str(value)
            clean[k] = value
        return cls(**clean)

    def merged(self, override: SlurmOptions) -> SlurmOptions:
        """``override``'s set values win; lists are concatenated (profile setup lines first)."""
        d = asdict(self)
        for f in fields(self):
            v = getattr(override, f.name)
            if f.name in _LIST_KEYS:
                d[f.name] = tuple(getattr(self, f.name)) + tuple(v)
            elif v is not None:
                d[f.name] = v
        return SlurmOptions(**d)

    def sbatch_parameters(self) -> dict[str, Any]:
        """sbatch option -> value for every option set, --sbatch-extra last (True: a flag without value)."""
        out: dict[str, Any] = {flag: getattr(self, name) for name, flag in SBATCH_FIELDS
                               if getattr(self, name) is not None}
        out.update(self.extra_parameters())
        return out

    def sbatch_flags(self, only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> list[str]:
        """The options as sbatch command-line flags (``only``/``skip``: sbatch option names)."""
        return [f"--{k}" if v is True else f"--{k}={v}" for k, v in self.sbatch_parameters().items()
                if (only is None or k in only) and k not in skip]

    def extra_parameters(self) -> dict[str, Any]:
        """--sbatch-extra lines ('--reservation=x', '#SBATCH --mail-type=END', '--exclusive') as a dict."""
        out: dict[str, Any] = {}
        for raw in self.sbatch_extra:
            item = raw.strip()
            if item.startswith("#SBATCH"):
                item = item[len("#SBATCH"):].strip()
            if not item.startswith("--") or len(item) < 3:
                raise ConfigError(f"--sbatch-extra: expected an sbatch option like --reservation=NAME, got {raw!r}")
            key, _, value = item[2:].partition("=")
            out[key.strip()] = value.strip() if _ else True
        return out


def find_profile(explicit: str | None, cwd: Path | None = None) -> Path | None:
    if explicit:
        p = Path(explicit).expanduser()
        if not p.exists():
            raise ConfigError(f"--profile: {p} not found")
        return p
    env = os.environ.get("ORCH_PROFILE")
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise ConfigError(f"$ORCH_PROFILE: {p} not found")
        return p
    for cand in ((cwd or Path.cwd()) / "orch-cluster.toml", Path.home() / ".config" / "orch" / "cluster.toml"):
        if cand.exists():
            return cand
    return None


def load_profile(path: Path | None) -> SlurmOptions:
    if path is None:
        return SlurmOptions()
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read profile: {e.strerror}") from None
    if isinstance(data.get("slurm"), dict):
        data = data["slurm"]
    return SlurmOptions.from_dict(data, source=str(path))


_UNLIMITED = ("unlimited", "infinite", "inf")


def parse_time(value: str | float | None, source: str = "--time") -> int | None:
    """Seconds in a SLURM time limit: ``minutes``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or
    ``D-HH:MM:SS`` (what sbatch --time takes). None or ``UNLIMITED``: no limit (None).
    Raises ConfigError naming ``source`` on anything else."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{source}: expected a time limit like 90, 1:30:00 or 2-00:00, got {value!r}")
    if isinstance(value, (int, float)):
        text = str(int(value)) if float(value).is_integer() else ""
    else:
        text = str(value).strip()
    if text.lower() in _UNLIMITED:
        return None
    bad = ConfigError(f"{source}: expected a time limit in minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                      f"D-HH:MM:SS, got {value!r}")
    days, dash, rest = text.partition("-")
    if not dash:
        days, rest = "0", text
    fields = rest.split(":")
    if not all(f.isdigit() for f in [days, *fields]) or not 1 <= len(fields) <= 3:
        raise bad
    d, nums = int(days), [int(f) for f in fields]
    if dash:  # D-HH, D-HH:MM, D-HH:MM:SS
        h, m, s = (nums + [0, 0])[:3]
    elif len(nums) == 1:  # minutes
        h, m, s = 0, nums[0], 0
    elif len(nums) == 2:  # MM:SS
        h, m, s = 0, nums[0], nums[1]
    else:  # HH:MM:SS
        h, m, s = nums
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds <= 0:
        raise ConfigError(f"{source}: a time limit must be positive, got {value!r}")
    return seconds


def format_seconds(seconds: float) -> str:
    """A duration for people: '45 s', '2:05' (minutes:seconds), '1:02:03', '2-00:00:00'."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:g} s"
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}-{h:02d}:{m:02d}:{sec:02d}"
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
