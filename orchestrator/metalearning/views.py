"""`orch meta list | show | export`: read-only views of the meta-dataset (tables for the CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from rich.table import Table

from orchestrator.errors import ConfigError
from orchestrator.metalearning.metadata import MetaData


def meta_roots(root: Path, extra: list[str] | None = None) -> list[Path]:
    """The study root plus shared team roots (--meta-root, $ORCH_META_ROOTS), without duplicates."""
    roots = [root, *(Path(p) for p in (extra or []))]
    roots += [Path(p) for p in os.environ.get("ORCH_META_ROOTS", "").split(os.pathsep) if p.strip()]
    out: list[Path] = []
    for r in roots:
        r = r.expanduser()
        if r.resolve() not in {o.resolve() for o in out}:
            out.append(r)
    return out


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def list_table(md: MetaData) -> Table:
    table = Table("task", "trials", "objective", "best", "studies", "meta-features", title="meta-dataset")
    ok = md.ok
    for t in md.tasks():
        g = ok[ok["task"] == t.name]
        best = "-" if g.empty else _fmt(float(g["value"].iloc[int(g["cost"].to_numpy().argmin())]))
        feats = ", ".join(f"{k}={_fmt(v)}" for k, v in list(t.features.items())[:6])
        table.add_row(t.name, str(t.trials), f"{t.direction[:3]} {t.objective}", best, str(len(t.studies)), feats)
    return table


def show_table(md: MetaData, task: str, top: int = 10) -> tuple[Table, Table]:
    infos = {t.name: t for t in md.tasks()}
    if task not in infos:
        raise ConfigError(f"orch meta show: no task '{task}' in the meta-dataset (tasks: {', '.join(sorted(infos))})")
    info = infos[task]
    feats = Table("meta-feature", "value", title=f"{task}: {info.trials} trials from {len(info.studies)} studies")
    for k, v in info.features.items():
        feats.add_row(k, _fmt(v))
    ok = md.ok[md.ok["task"] == task].sort_values("cost", kind="stable").head(top)
    hps = info.hyperparameters
    best = Table("rank", info.objective, *hps, "study", title=f"best {min(top, len(ok))} configurations")
    for i, (_, row) in enumerate(ok.iterrows(), start=1):
        best.add_row(str(i), _fmt(float(row["value"])), *(_fmt(row.get(f"hp:{h}", "")) for h in hps), str(row["study"]))
    return feats, best


def export(md: MetaData, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    df = md.df
    if out.suffix == ".parquet":
        clean = df.copy()
        for c in clean.columns:
            if clean[c].dtype == object:
                clean[c] = clean[c].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
        clean.to_parquet(out, index=False)
    elif out.suffix == ".csv":
        df.to_csv(out, index=False)
    else:
        raise ConfigError(f"--out: {out}: use a .csv or .parquet file name")
    return out
