"""The meta-dataset: every finished trial of every past study, with its task's meta-features.

Read from ``<root>/metadataset/<study>.csv`` under one or more roots (a user's own and a shared
team root). Files are checked against the schema (``store.export.META_SCHEMA_VERSION``); a corrupt
or foreign file is reported by name and skipped, never blocks a study. A parquet cache per root
(``metadataset/.cache/``), keyed by each file's size and mtime, makes a large meta-dataset load
in a second: only new or changed files are parsed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from orchestrator.store.export import META_SCHEMA_VERSION

T = TypeVar("T")
REQUIRED = ("schema_version", "study", "task", "job", "objective", "direction", "status", "value")
CACHE_NAME = "metadata-cache.parquet"


@dataclass
class TaskInfo:
    name: str
    job: str
    objective: str
    direction: str
    features: dict[str, Any]
    trials: int
    hyperparameters: list[str]
    studies: list[str]


@dataclass
class MetaData:
    """Past trials as one DataFrame. ``cost`` is the objective made minimisable (value, or -value)."""

    df: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    # --- loading -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, roots: Sequence[Path], exclude_studies: Iterable[str] = (), exclude_tasks: Iterable[str] = (),
             use_cache: bool = True, lean: bool = False) -> MetaData:
        """Every root's meta-dataset; ``lean`` keeps only what warm starts need (no metrics, no JSON)."""
        frames, problems = [], []
        for root in roots:
            df, probs = _load_root(Path(root) / "metadataset", use_cache, lean)
            frames.append(df)
            problems += probs
        df = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else _empty()
        ex_s, ex_t = set(exclude_studies), set(exclude_tasks)
        if len(df) and (ex_s or ex_t):
            df = df[~df["study"].isin(ex_s) & ~df["task"].isin(ex_t)]
        return cls(_with_cost(df.reset_index(drop=True)), problems)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> MetaData:
        """Rows in the meta-dataset's schema (``value`` and ``direction`` give each row's ``cost``)."""
        return cls(_with_cost(df.reset_index(drop=True)))

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """What ``build`` computes from this meta-dataset, computed once per key (a MetaData's frame is not
        changed after loading): a study's planner and its optimiser share one source prior."""
        memo: dict[Hashable, Any] = self.__dict__.setdefault("_derived", {})
        if key not in memo:
            memo[key] = build()
        return memo[key]  # type: ignore[no-any-return]

    # --- views ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.df)

    @property
    def ok(self) -> pd.DataFrame:
        """Successful trials with a finite objective, at their whole budget: a trial its strategy halted on
        its learning curve (``halted``) has a partial value, not its configuration's quality."""
        d = self.df
        keep = (d["status"] == "SUCCESS") & np.isfinite(d["cost"].astype(float))
        if "halted" in d.columns:
            keep &= d["halted"].isna() | (d["halted"].astype(str) == "")
        return d[keep]

    def hyperparameters(self, task: str | None = None) -> list[str]:
        d = self.df if task is None else self.df[self.df["task"] == task]
        return [c[3:] for c in d.columns if c.startswith("hp:") and d[c].notna().any()]

    def task_names(self) -> list[str]:
        return sorted(self.df["task"].unique().tolist()) if len(self.df) else []

    def tasks(self) -> list[TaskInfo]:
        """One summary per task, computed with group-wise aggregates (fast on millions of rows) and
        kept: a MetaData's frame is not changed after loading."""
        memo = self.__dict__.get("_tasks_memo")
        if memo is not None and memo[0] is self.df:
            return list(memo[1])
        out = self._tasks()
        self.__dict__["_tasks_memo"] = (self.df, out)
        return list(out)

    def _tasks(self) -> list[TaskInfo]:
        d = self.df
        if not len(d):
            return []
        ok_counts = self.ok.groupby("task").size()
        hp_cols = [c for c in d.columns if c.startswith("hp:")]
        mf_cols = [c for c in d.columns if c.startswith("mf:")]
        grouped = d.groupby("task", sort=True)
        has_hp = grouped[hp_cols].count() > 0 if hp_cols else None
        last = grouped[["job", "objective", "direction", *mf_cols]].last()
        studies = grouped["study"].unique()
        out = []
        for name, row in last.iterrows():
            feats = {c[3:]: _scalar(row[c]) for c in mf_cols if pd.notna(row[c])}
            hps = [c[3:] for c in hp_cols if has_hp is not None and bool(has_hp.at[name, c])]
            out.append(TaskInfo(str(name), str(row["job"]), str(row["objective"]), str(row["direction"]), feats,
                                int(ok_counts.get(name, 0)), hps, sorted(map(str, studies[name]))))
        return out

    def best_configs(self, task: str, k: int = 1) -> list[dict[str, Any]]:
        g = self.ok[self.ok["task"] == task].sort_values("cost", kind="stable").head(k)
        return [self.config_of(row) for _, row in g.iterrows()]

    @staticmethod
    def config_of(row: pd.Series) -> dict[str, Any]:
        return {c[3:]: _scalar(v) for c, v in row.items() if str(c).startswith("hp:") and pd.notna(v)}

    def scores(self, tasks: Iterable[str] | None = None) -> pd.DataFrame:
        """Successful trials with ``score`` in [0, 1] per task (0 = that task's best, 1 = its worst),
        of every task or only of ``tasks``."""
        ok = self.ok if tasks is None else self.ok[self.ok["task"].isin(set(tasks))]
        ok = ok.copy()
        g = ok.groupby("task")["cost"]
        lo, hi = g.transform("min"), g.transform("max")
        ok["score"] = np.where(hi > lo, (ok["cost"] - lo) / (hi - lo).replace(0, 1), 0.0)
        return ok


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*REQUIRED, "cost")})


def _with_cost(df: pd.DataFrame) -> pd.DataFrame:
    if not len(df):
        return _empty()
    value = pd.to_numeric(df["value"], errors="coerce")
    sign = np.where(df["direction"].astype(str) == "maximize", -1.0, 1.0)
    df = df.copy()
    df["cost"] = value * sign
    return df


def _scalar(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


_STRING_COLUMNS = ("study", "task", "job", "dataset", "objective", "direction", "strategy", "trial_id", "status",
                   "origin", "config", "halted", "continues", "curve")


def _read_file(path: Path) -> tuple[pd.DataFrame | None, str | None]:
    import pyarrow as pa
    import pyarrow.csv as pc

    types = {c: pa.string() for c in _STRING_COLUMNS}
    types["budget"] = pa.float64()
    try:
        table = pc.read_csv(path, convert_options=pc.ConvertOptions(strings_can_be_null=True, column_types=types))
    except Exception as e:  # pyarrow.lib.ArrowInvalid and friends: a corrupt file
        return None, f"{path}: unreadable meta-dataset file ({str(e).splitlines()[0][:120]}); skipped"
    cols = set(table.column_names)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        return None, f"{path}: not an orch meta-dataset file (missing {', '.join(missing)}); skipped"
    df = table.to_pandas()
    versions = set(pd.to_numeric(df["schema_version"], errors="coerce").dropna().astype(int).tolist())
    if versions - {META_SCHEMA_VERSION}:
        return None, f"{path}: meta-dataset schema version {sorted(versions)} (this orch reads {META_SCHEMA_VERSION}); skipped"
    return df, None


def _lean(columns: Iterable[str]) -> list[str]:
    keep = {*REQUIRED, "budget", "wall_seconds", "halted", "continues", "curve", "_file"}
    return [c for c in columns if c in keep or c.startswith(("hp:", "mf:"))]


def _load_root(folder: Path, use_cache: bool, lean: bool = False) -> tuple[pd.DataFrame, list[str]]:
    if not folder.is_dir():
        return _empty(), []
    files = sorted(p for p in folder.glob("*.csv") if not p.name.startswith("."))
    stamps = {p.name: _stamp(p) for p in files}
    cache_path = folder / ".cache" / CACHE_NAME
    cached = None
    known: dict[str, tuple[int, int]] = {}
    if use_cache and cache_path.exists():
        try:
            import pyarrow.parquet as pq

            schema = pq.read_schema(cache_path)
            cached = pd.read_parquet(cache_path, columns=_lean(schema.names) if lean else None)
            raw = (schema.metadata or {}).get(b"orch_files")
            meta = json.loads(raw) if raw else json.loads(cached.attrs.get("files", "{}"))
            known = {k: tuple(v) for k, v in meta.items()}  # type: ignore[misc]
        except Exception:
            cached, known = None, {}
    keep = {name for name, st in stamps.items() if known.get(name) == st}
    parts, problems = [], []
    if cached is not None and keep:
        parts.append(cached[cached["_file"].isin(sorted(keep))])
    changed = [p for p in files if p.name not in keep]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:  # pyarrow drops the GIL
        for p, (df, problem) in zip(changed, pool.map(_read_file, changed)):
            if problem:
                problems.append(problem)
                continue
            assert df is not None
            df["_file"] = p.name
            parts.append(df)
    df = pd.concat(parts, ignore_index=True) if parts else _empty()
    if use_cache and (changed or set(known) != set(keep)) and len(df) and not (lean and keep):
        present = set(df["_file"].unique())
        _write_cache(cache_path, df, {k: list(v) for k, v in stamps.items() if k in present})
    if lean:
        df = df[_lean(df.columns)]
    return df.drop(columns=["_file"], errors="ignore"), problems


def _write_cache(path: Path, df: pd.DataFrame, files: dict[str, list[int]]) -> None:
    """Best effort: a reader that cannot write the cache (read-only shared root) just goes on."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = df.copy()
        for c in out.columns:  # parquet wants one type per column; mixed objects become strings
            if out[c].dtype == object:
                out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(out, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"orch_files": json.dumps(files).encode()})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError:
        pass
