"""Why a trial failed, in one line: read from its error text (pure; no I/O).

Errors are written reason first (the last meaningful line of the user's stderr, or the exception line
of the job's traceback), then the evidence (exit status, stderr tail, traceback). Older error texts
(a whole traceback, "...; stderr tail:" followed by the tail) are read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_DECORATION = re.compile(r"^[\s\-=~^*#_.|+<>]*$")  # rulers, caret markers, empty lines
_TRACEBACK = "Traceback (most recent call last):"


def _meaningful(line: str) -> bool:
    s = line.strip()
    return bool(s) and not _DECORATION.match(s) and not s.startswith("[orch]") and s != _TRACEBACK \
        and not s.startswith('File "') and s != "During handling of the above exception, another exception occurred:" \
        and s != "The above exception was the direct cause of the following exception:"


def last_meaningful_line(text: str, limit: int = 300) -> str:
    """The last line that says something: not blank, not a ruler or caret marker, not orch's own
    ``[orch]`` notes, not a traceback's frame line."""
    for line in reversed(text.splitlines()):
        if _meaningful(line):
            s = " ".join(line.split())
            return s if len(s) <= limit else s[: limit - 3] + "..."
    return ""


def failure_reason(error: str, limit: int = 300) -> str:
    """One line saying why a trial failed, from its recorded error text."""
    text = error.strip()
    if not text:
        return ""
    lines = text.splitlines()
    first = lines[0].strip()
    if first.startswith(_TRACEBACK):  # an older result: the whole traceback; its exception names the reason
        body = text
        if "stderr tail:" in body:  # a failed command's message inside the traceback: the user's stderr
            body = body.rsplit("stderr tail:", 1)[1]
        return last_meaningful_line(body, limit) or last_meaningful_line(text, limit)
    if first.endswith(":") and len(lines) > 1:  # "...; stderr tail:" / "...; log tail (file):" then the log
        head = re.sub(r"[;,]?\s*(stderr|log) tail[^:]*:$", "", first).rstrip(" ;:")
        last = last_meaningful_line("\n".join(lines[1:]), limit)
        first = f"{head}: {last}" if last and head else (last or head)
    s = " ".join(first.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def short_error(error: str, limit: int = 300) -> str:
    """The error as one line for a CSV cell: the reason first, then as much of the rest as fits."""
    reason = failure_reason(error, limit)
    rest = " ".join(error.split())
    if rest.startswith(reason.rstrip(".")):
        rest = rest[len(reason):].lstrip(" ;:")
    text = f"{reason} | {rest}" if rest else reason
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class FailureGroup:
    """Failed trials that share a status and a reason."""

    status: str
    reason: str
    trials: tuple[str, ...]

    def line(self, show: int = 6) -> str:
        ids = ", ".join(self.trials[:show]) + (f" and {len(self.trials) - show} more" if len(self.trials) > show else "")
        which = f"trial {ids}" if len(self.trials) == 1 else f"{len(self.trials)} trials ({ids})"
        return f"{self.status} {which}: {self.reason or '(no error text)'}"


def group_failures(rows: Iterable[tuple[str, str, str]]) -> list[FailureGroup]:
    """(trial id, status, reason) rows -> groups of the same status and reason, the largest first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for trial_id, status, reason in rows:
        groups.setdefault((status, reason), []).append(trial_id)
    out = [FailureGroup(s, r, tuple(ids)) for (s, r), ids in groups.items()]
    return sorted(out, key=lambda g: (-len(g.trials), g.trials[0]))
