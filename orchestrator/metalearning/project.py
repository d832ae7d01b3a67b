"""Project configurations from past tasks into a new search space (pure).

Numbers are clipped to the new bounds (integers rounded), categorical values matched by value or
name (else the default), ordinal values mapped to the nearest member (on a log scale for positive
sequences), unknown hyperparameters dropped, missing ones filled with defaults, inactive
conditional hyperparameters removed; duplicates after projection are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.optimizers.base import config_key
from orchestrator.space import config_to_dict

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

_MISSING = object()


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _nearest(sequence: Iterable[Any], value: Any) -> Any:
    seq = list(sequence)
    for item in seq:
        if item == value or str(item) == str(value):
            return item
    x = _number(value)
    nums = [_number(s) for s in seq]
    if x is None or any(n is None for n in nums):
        return _MISSING
    use_log = x > 0 and all(n > 0 for n in nums)  # type: ignore[operator]
    key = (lambda n: abs(math.log(n) - math.log(x))) if use_log else (lambda n: abs(n - x))  # noqa: E731
    return seq[min(range(len(seq)), key=lambda i: key(nums[i]))]


def project(config: Mapping[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
    """``config`` as a valid configuration of ``space`` (None if it cannot be made one)."""
    from ConfigSpace import Configuration
    from ConfigSpace.util import deactivate_inactive_hyperparameters

    values: dict[str, Any] = {}
    for hp in space.values():
        kind = type(hp).__name__
        v = config.get(hp.name, _MISSING)
        default = hp.default_value
        if kind == "Constant":
            values[hp.name] = hp.value
        elif v is _MISSING or v is None or (isinstance(v, float) and math.isnan(v)):
            values[hp.name] = default
        elif hasattr(hp, "choices"):
            m = _nearest(hp.choices, v) if all(isinstance(c, (int, float)) for c in hp.choices) else next(
                (c for c in hp.choices if c == v or str(c) == str(v) or str(c).lower() == str(v).lower()), _MISSING)
            values[hp.name] = default if m is _MISSING else m
        elif hasattr(hp, "sequence"):
            m = _nearest(hp.sequence, v)
            values[hp.name] = default if m is _MISSING else m
        else:
            x = _number(v)
            if x is None:
                values[hp.name] = default
                continue
            x = min(max(x, float(hp.lower)), float(hp.upper))
            values[hp.name] = int(round(x)) if "Integer" in kind else x
    try:
        active = deactivate_inactive_hyperparameters(values, space)
        return config_to_dict(Configuration(space, values=config_to_dict(active)))
    except Exception:  # a projection that violates a forbidden clause or a condition: skip it
        return None


def project_all(configs: Iterable[Mapping[str, Any]], space: ConfigurationSpace, limit: int | None = None) -> list[dict[str, Any]]:
    """Project, drop failures and duplicates, keep the order."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in configs:
        p = project(c, space)
        if p is None:
            continue
        k = config_key(p)
        if k not in seen:
            seen.add(k)
            out.append(p)
            if limit is not None and len(out) >= limit:
                break
    return out


def shared_hyperparameters(names: Iterable[str], space: ConfigurationSpace) -> list[str]:
    keys = set(space.keys())
    return [n for n in names if n in keys]
