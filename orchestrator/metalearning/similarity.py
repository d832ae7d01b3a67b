"""Task similarity from meta-features (pure): normalised, robust to missing features.

Numeric features are log-scaled when they are counts or sizes (non-negative), then standardised
across the candidate tasks and the new one (median / MAD, so one odd task does not squash the rest).
The distance is the root mean square difference over the features both tasks have, plus a unit
mismatch for each differing string feature (modality, family, model); tasks without a common feature
get an infinite distance. Only tasks sharing at least one hyperparameter with the new space count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Neighbour:
    task: str
    distance: float
    shared: tuple[str, ...]
    features_compared: int


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(float(v)):
        return float(v)
    return None


def _scaled(values: list[float]) -> list[float]:
    if all(v >= 0 for v in values) and max(values) > 10:  # counts and sizes: compare orders of magnitude
        return [math.log1p(v) for v in values]
    return values


def standardise(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, float | str]]:
    """Each numeric feature scaled to comparable units across ``rows``; strings kept."""
    keys = sorted({k for r in rows for k in r})
    out: list[dict[str, float | str]] = [dict() for _ in rows]
    for k in keys:
        nums = [(i, _numeric(r[k])) for i, r in enumerate(rows) if k in r and _numeric(r[k]) is not None]
        strs = [(i, r[k]) for i, r in enumerate(rows) if k in r and isinstance(r[k], str)]
        if nums:
            idx = [i for i, _ in nums]
            vals = np.array(_scaled([v for _, v in nums if v is not None]))  # type: ignore[arg-type]
            med = float(np.median(vals))
            mad = float(np.median(np.abs(vals - med))) * 1.4826
            scale = mad if mad > 1e-12 else (float(vals.std()) or 1.0)
            for i, v in zip(idx, vals):
                out[i][k] = float((v - med) / scale)
        for i, s in strs:
            out[i][k] = s
    return out


def distance(a: Mapping[str, float | str], b: Mapping[str, float | str]) -> tuple[float, int]:
    common = [k for k in a if k in b]
    if not common:
        return math.inf, 0
    total = 0.0
    for k in common:
        x, y = a[k], b[k]
        if isinstance(x, str) or isinstance(y, str):
            total += 0.0 if str(x) == str(y) else 1.0
        else:
            total += min((x - y) ** 2, 9.0)  # one wild feature cannot dominate (capped at 3 units)
    return math.sqrt(total / len(common)), len(common)


def neighbours(target: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]],
               hyperparameters: Mapping[str, Sequence[str]], space_names: Sequence[str]) -> list[Neighbour]:
    """Past tasks sorted by distance to ``target``; only those sharing hyperparameters with the space."""
    names = [t for t in tasks if set(hyperparameters.get(t, ())) & set(space_names)]
    rows = standardise([target, *(tasks[t] for t in names)])
    out = []
    for i, t in enumerate(names, start=1):
        d, n = distance(rows[0], rows[i])
        shared = tuple(h for h in space_names if h in set(hyperparameters.get(t, ())))
        # a task that shares only part of the space says less about it
        coverage = len(shared) / max(1, len(space_names))
        out.append(Neighbour(t, d / max(coverage, 1e-3) if math.isfinite(d) else math.inf, shared, n))
    out.sort(key=lambda nb: (nb.distance, nb.task))
    return out
