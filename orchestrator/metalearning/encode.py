"""Vectorised encoding of configurations into [0, 1] features of a space (pure numpy / pandas).

Numbers are clipped to the space's bounds and scaled (log scale where the hyperparameter is log),
ordinal values become their (nearest) rank / (size - 1), categoricals their index / (size - 1);
missing or inactive values are -1. The same projection rules as ``project`` but for a whole table
at once, so that meta-models can be trained on hundreds of thousands of past trials quickly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


def _column(hp: Any, raw: pd.Series) -> np.ndarray:
    kind = type(hp).__name__
    out = np.full(len(raw), -1.0)
    if kind == "Constant":
        return np.zeros(len(raw))
    if hasattr(hp, "choices"):
        choices = [str(c) for c in hp.choices]
        index = {c: i for i, c in enumerate(choices)} | {c.lower(): i for i, c in enumerate(choices)}
        codes = raw.map(lambda v: index.get(str(v), index.get(str(v).lower())) if pd.notna(v) else None)
        denom = max(1, len(choices) - 1)
        present = codes.notna().to_numpy()
        out[present] = codes[present].astype(float).to_numpy() / denom
        return out
    if hasattr(hp, "sequence"):
        seq = list(hp.sequence)
        nums = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        try:
            s = np.array(seq, dtype=float)
        except (TypeError, ValueError):
            index = {str(c): i for i, c in enumerate(seq)}
            codes = raw.map(lambda v: index.get(str(v)) if pd.notna(v) else None)
            present = codes.notna().to_numpy()
            out[present] = codes[present].astype(float).to_numpy() / max(1, len(seq) - 1)
            return out
        use_log = bool((s > 0).all())
        ok = np.isfinite(nums) & ((nums > 0) | (not use_log))
        ref = np.log(s) if use_log else s
        x = np.log(np.where(ok & (nums > 0), nums, 1.0)) if use_log else nums
        idx = np.abs(x[:, None] - ref[None, :]).argmin(axis=1)
        out[ok] = idx[ok] / max(1, len(seq) - 1)
        return out
    lo, hi = float(hp.lower), float(hp.upper)
    nums = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(nums)
    x = np.clip(nums, lo, hi)
    if getattr(hp, "log", False):
        val = (np.log(np.where(ok, x, lo)) - np.log(lo)) / (np.log(hi) - np.log(lo))
    else:
        val = (np.where(ok, x, lo) - lo) / (hi - lo)
    out[ok] = val[ok]
    return out


def encode_frame(space: ConfigurationSpace, df: pd.DataFrame, prefix: str = "hp:") -> np.ndarray:
    """(rows, hyperparameters) features for a frame with ``hp:<name>`` (or bare) columns."""
    cols = []
    for hp in space.values():
        name = f"{prefix}{hp.name}"
        raw = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        cols.append(_column(hp, raw))
    return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def encode_configs(space: ConfigurationSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    if not configs:
        return np.zeros((0, len(space)))
    return encode_frame(space, pd.DataFrame(list(configs)), prefix="")


def smac_encode_frame(space: ConfigurationSpace, df: pd.DataFrame, prefix: str = "hp:") -> np.ndarray:
    """Past trials in SMAC's own vector encoding of ``space`` (what its models see), projected first:
    numbers clipped (integers rounded), ordinals to their nearest member, unknown categories and
    missing values to the default; a missing value of a conditional hyperparameter means inactive
    (NaN). Vectorised: for the large meta-datasets a warm start reads."""
    children = {c.child.name for c in space.conditions} if hasattr(space, "conditions") else set()
    out = []
    for hp in space.values():
        name = f"{prefix}{hp.name}"
        raw = df[name] if name in df.columns else pd.Series([np.nan] * len(df), index=df.index)
        kind = type(hp).__name__
        missing = raw.isna().to_numpy()
        if kind == "Constant":
            out.append(np.zeros(len(df)))
            continue
        if hasattr(hp, "choices"):
            lookup = {str(c): c for c in hp.choices} | {str(c).lower(): c for c in hp.choices}
            vals = raw.map(lambda v: lookup.get(str(v), lookup.get(str(v).lower(), hp.default_value)))
            vec = hp.to_vector(np.array(vals.tolist(), dtype=object))
        elif hasattr(hp, "sequence"):
            col = _column(hp, raw.where(~raw.isna(), hp.default_value))  # rank / (n - 1)
            idx = np.rint(np.clip(col, 0, 1) * (len(hp.sequence) - 1)).astype(int)
            vec = hp.to_vector(np.array([hp.sequence[i] for i in idx], dtype=object))
        else:
            nums = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
            nums = np.where(np.isfinite(nums), nums, float(hp.default_value))
            nums = np.clip(nums, float(hp.lower), float(hp.upper))
            if "Integer" in kind:
                nums = np.rint(nums).astype(np.int64)
            vec = hp.to_vector(nums)
        vec = np.asarray(vec, dtype=float)
        if hp.name in children:
            vec = np.where(missing, np.nan, vec)
        out.append(vec)
    return np.column_stack(out) if out else np.zeros((len(df), 0))
