"""Atomic file writes (temp name + fsync + rename) and strict JSON reads that name the bad file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.errors import StoreCorrupt


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` so that a reader sees either the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for the whole group to read
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def refresh(path: Path) -> None:
    """Refresh NFS attribute caches before deciding a file is absent (submitit's chmod trick)."""
    try:
        os.listdir(path.parent)
        path.chmod(path.stat().st_mode)
    except OSError:
        pass


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read JSON; a missing file raises FileNotFoundError, bad content raises StoreCorrupt naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StoreCorrupt(f"{path}: corrupt {what}: not UTF-8 text ({e.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        detail = "empty file" if not text.strip() else f"invalid JSON at line {e.lineno}: {e.msg}"
        raise StoreCorrupt(f"{path}: corrupt {what}: {detail}") from None
