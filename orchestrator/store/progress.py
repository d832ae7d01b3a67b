"""progress.jsonl: a running trial's intermediate results, one JSON object per line (per epoch).

The job appends (built-in jobs through ``JobContext.report``, a user's command to ``$ORCH_PROGRESS_FILE``);
the controller reads from the shared filesystem while the trial runs. A line is ``{"epoch": 3,
"metrics": {"accuracy": 0.91}, "t": <unix time>}``; the metrics may also sit at the top level beside
``epoch`` (what a user's script writes most simply). An unterminated last line is a write in flight
and is read next time; a line that is not a JSON object with a numeric epoch is skipped.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_RESERVED = ("epoch", "t", "attempt", "metrics", "seconds")


@dataclass(frozen=True)
class ProgressPoint:
    """One intermediate result: the metrics after ``epoch`` epochs, written at ``t`` (unix time) by
    ``attempt``; ``seconds``: the job's own count of training seconds so far, when it gives one."""

    epoch: float
    metrics: dict[str, float] = field(default_factory=dict)
    t: float | None = None
    attempt: int | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"epoch": self.epoch, "metrics": dict(self.metrics)}
        for k in ("t", "attempt", "seconds"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d


def parse_point(line: bytes | str) -> ProgressPoint | None:
    """A progress line as a point; None for anything else (a comment, a stray print, bad JSON)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or not _number(obj.get("epoch")):
        return None
    raw = obj.get("metrics") if isinstance(obj.get("metrics"), dict) else {
        k: v for k, v in obj.items() if k not in _RESERVED}
    metrics = {str(k): float(v) for k, v in raw.items() if _number(v) and math.isfinite(float(v))}
    return ProgressPoint(float(obj["epoch"]), metrics, optional_float(obj.get("t")),
                         int(obj["attempt"]) if _number(obj.get("attempt")) else None, optional_float(obj.get("seconds")))


def read_points(path: Path, offset: int = 0) -> tuple[list[ProgressPoint], int]:
    """The complete lines after byte ``offset`` as points, and the offset to read from next time."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # an unterminated last line is a write in flight: next time
    points = [p for p in (parse_point(line) for line in data[:end].split(b"\n") if line.strip()) if p is not None]
    return points, offset + end


def append_point(path: Path, point: ProgressPoint) -> None:
    """Append one line with a single write (O_APPEND) and fsync: the job is the file's one writer."""
    d = point.to_dict()
    d.setdefault("t", round(time.time(), 3))
    line = (json.dumps(d, separators=(",", ":")) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def optional_float(v: Any) -> float | None:
    """A JSON number as a float, anything else None."""
    return float(v) if _number(v) else None
