"""The study journal: append-only JSON lines, one writer (the study's controller), fsync per event.

Readers skip an unterminated last line (a write in flight, or one cut by a kill, which the next
writer removes); any other bad line is corruption and raises StoreCorrupt naming file and line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import StoreCorrupt


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked_tail = False

    def append(self, event: str, **fields: Any) -> None:
        record = {"event": event, "t": round(time.time(), 3), **fields}
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._checked_tail:
            self._repair_tail()
            self._checked_tail = True
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _repair_tail(self) -> None:
        """A kill mid-append leaves a line without its newline: cut it (only the owner appends)."""
        try:
            with open(self.path, "rb+") as f:
                data = f.read()
                if not data or data.endswith(b"\n"):
                    return
                f.truncate(data.rfind(b"\n") + 1)
        except FileNotFoundError:
            return

    def read(self) -> list[dict[str, Any]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        complete = data.split(b"\n")[:-1]  # an unterminated last line is a write in flight: skipped
        events: list[dict[str, Any]] = []
        for i, raw in enumerate(complete, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                obj = None
            if not isinstance(obj, dict) or "event" not in obj:
                raise StoreCorrupt(f"{self.path}: corrupt journal: line {i} is not a JSON event")
            events.append(obj)
        return events
