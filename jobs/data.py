"""Finding datasets: a local path, a name in $ORCH_DATASETS folders, or a Hugging Face dataset.

``--data`` may be a file (CSV / TSV / JSON / JSONL / parquet, gzip allowed), a folder in one of the
layouts of the seed datasets (imdb, sst2, ag_news, conll2003, mnist, wine_quality), or a name.
A name is looked up as a folder under each directory of ``$ORCH_DATASETS`` (colon-separated),
then in the Hugging Face cache (``datasets.load_dataset``; offline when HF_HUB_OFFLINE=1). When
nothing is found the error is one line listing every place that was tried.

Splits are made with a fixed seed (``SPLIT_SEED``) so every trial of a study sees the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.errors import ConfigError

SPLIT_SEED = 0
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".csv.gz", ".tsv.gz", ".json.gz", ".jsonl.gz")


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from: ``kind`` is 'path' (a file or folder) or 'hf' (a hub name)."""

    kind: str
    name: str
    path: Path | None = None
    config: str | None = None

    @property
    def label(self) -> str:
        return self.path.name if self.path is not None and self.kind == "path" else self.name


def dataset_dirs() -> list[Path]:
    raw = os.environ.get("ORCH_DATASETS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def resolve(data: str | None, default: str, aliases: dict[str, str] | None = None) -> Source:
    """Turn ``--data`` (or the job's default dataset name) into a Source, or fail in one line."""
    spec = data or default
    tried: list[str] = []
    path = Path(spec).expanduser()
    if path.exists():
        return Source("path", path.name, path)
    tried.append(f"path {path}")
    name = (aliases or {}).get(spec.lower(), spec)
    for d in dataset_dirs():
        for cand in (d / name, d / spec, d / name.replace("-", "_")):
            if cand.exists():
                return Source("path", spec, cand)
        tried.append(f"{d / name}")
    if not dataset_dirs():
        tried.append("no folders in $ORCH_DATASETS")
    if "/" in name and ":" not in name and Path(name).suffix:
        raise ConfigError(f"--data: dataset '{spec}' not found (tried {'; '.join(tried)})")
    hf_name, _, config = name.partition(":")
    return Source("hf", hf_name, None, config or None)


def load_hf(source: Source, tried_note: str = "") -> Any:
    """``datasets.load_dataset`` with a one-line error when it is neither cached nor reachable."""
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(source.name, source.config)
    except Exception as e:  # offline: ConnectionError / FileNotFoundError / DatasetNotFoundError ...
        where = ", ".join(str(d) for d in dataset_dirs()) or "$ORCH_DATASETS unset"
        offline = " (offline: HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"--data: dataset '{source.name}' not found: not a local path, not under {where}, and the Hugging Face "
            f"hub/cache gave: {reason}{offline}; pass --data PATH"
        ) from None


def read_table(path: Path, **kw: Any) -> Any:
    """A CSV / TSV / JSON(L) / parquet file as a DataFrame (gzip by suffix)."""
    import pandas as pd

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True)
        if name.endswith((".json", ".json.gz")):
            return pd.read_json(path)
        if name.endswith((".tsv", ".tsv.gz")):
            import csv

            return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, **kw)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path, **kw)
    except (ValueError, OSError) as e:
        raise ConfigError(f"--data: cannot read {path}: {str(e).splitlines()[0][:200]}") from None
    raise ConfigError(f"--data: {path}: unsupported file type (use CSV, TSV, JSON, JSONL or parquet)")


def find_split_files(folder: Path) -> dict[str, Path]:
    """train / validation / test files in a folder, by the usual names (train, dev, valid, testa, ...)."""
    names = {"train": ("train",), "validation": ("validation", "valid", "val", "dev", "testa"),
             "test": ("test", "testb")}
    found: dict[str, Path] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for split, stems in names.items():
        for f in files:
            base = f.name.lower()
            for suffix in (".gz",):
                if base.endswith(suffix):
                    base = base[: -len(suffix)]
            stem = base.split(".")[0] if not base.startswith("eng.") else base.split(".")[1]
            if stem in stems and split not in found:
                found[split] = f
    return found


def split_indices(n: int, fractions: tuple[float, ...], labels: np.ndarray | None = None,
                  seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Disjoint index sets with the given fractions (stratified by ``labels`` when given)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    out = []
    rest, rest_labels = idx, labels
    remaining = 1.0
    for frac in fractions[:-1]:
        share = frac / remaining
        strat = rest_labels if rest_labels is not None and _stratifiable(rest_labels, share) else None
        take, rest = train_test_split(rest, train_size=share, random_state=seed, stratify=strat)
        if rest_labels is not None:
            rest_labels = labels[rest]  # type: ignore[index]
        out.append(np.sort(take))
        remaining -= frac
    out.append(np.sort(rest))
    return out


def _stratifiable(labels: np.ndarray, share: float) -> bool:
    _, counts = np.unique(labels, return_counts=True)
    return bool(counts.min() >= 2 and share * len(labels) >= len(counts) and (1 - share) * len(labels) >= len(counts))


def subsample_indices(n: int, k: int | None, labels: np.ndarray | None = None, seed: int = SPLIT_SEED) -> np.ndarray:
    """At most ``k`` of ``n`` rows (stratified when labels are given), in their original order."""
    if k is None or k >= n:
        return np.arange(n)
    if labels is not None and _stratifiable(labels, k / n):
        return split_indices(n, (k / n, 1 - k / n), labels, seed)[0]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=k, replace=False))


def eval_cap(options: dict[str, Any]) -> int | None:
    """Rows kept in validation and test: --eval-rows, else half of --subsample (at least 500)."""
    if options.get("eval_rows"):
        return int(options["eval_rows"])
    if options.get("subsample"):
        return max(500, int(options["subsample"]) // 2)
    return None


def class_entropy(labels: np.ndarray) -> float:
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())
