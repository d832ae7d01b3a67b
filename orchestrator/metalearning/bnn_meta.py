"""meta-bnn's pre-training data and state: past tasks (never the new one) as (inputs, warped costs).

Every past task's costs are min-max normalised per task and warped with log(score + 0.02), the same
warp the new task's costs get at run time (``RunHistoryMinMaxLogEncoder``), then standardised with
the pooled mean and standard deviation, so that the task heads and the new head share one scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.metalearning.encode import smac_encode_frame
from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.related import relevant

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

OFFSET = 0.02
ROWS = 2000
#: objectives in [0, 1] whose error (1 - score, or the error itself) is comparable across tasks as it is
BOUNDED_SCORES = {"accuracy", "f1", "f1_macro", "f1_micro", "precision", "recall", "auc", "balanced_accuracy"}
BOUNDED_ERRORS = {"1 - val_acc", "error", "error_rate", "val_error"}


def error_shift(objective: str, direction: str) -> float | None:
    """b such that cost + b is an error in [0, 1] (cost = -score when maximising); None if unbounded."""
    if direction == "maximize" and objective in BOUNDED_SCORES:
        return 1.0
    if direction == "minimize" and objective in BOUNDED_ERRORS:
        return 0.0
    return None


def meta_state(meta: MetaData, space: ConfigurationSpace, seed: int = 0, steps: int = 1000,
               target: tuple[str, str] | None = None) -> dict[str, Any] | None:
    """Pre-trained features and head prior; ``warp`` says how the new task's costs must be mapped:
    ('error', b) = log(cost + b + 0.02) when every task's objective is a bounded error or score (the
    scale is then shared as it is), else ('minmax', 0) = per-task min-max normalised first."""
    from orchestrator.optimizers.bnn_core import InputEncoder, meta_train

    meta = relevant(meta, space)
    scored = meta.scores()
    if scored.empty:
        return None
    rng = np.random.default_rng(seed)
    enc = InputEncoder(space)
    shifts = {t: error_shift(str(g["objective"].iloc[0]), str(g["direction"].iloc[0]))
              for t, g in scored.groupby("task", sort=True)}
    target_shift = error_shift(*target) if target is not None else 0.0
    shared = target_shift is not None and all(b is not None for b in shifts.values())
    tasks = []
    for t, g in scored.groupby("task", sort=True):
        if len(g) < 8:
            continue
        if len(g) > ROWS:
            g = g.iloc[np.sort(rng.choice(len(g), ROWS, replace=False))]
        x = enc(smac_encode_frame(space, g))
        err = g["cost"].to_numpy(dtype=float) + shifts[t] if shared else g["score"].to_numpy(dtype=float)  # type: ignore[operator]
        tasks.append((x, np.log(np.clip(err, 0, None) + OFFSET)))
    if len(tasks) < 2:
        return None
    pooled = np.concatenate([y for _, y in tasks])
    pm, ps = float(pooled.mean()), float(pooled.std() or 1.0)
    state = meta_train([(x, (y - pm) / ps) for x, y in tasks], steps=steps, seed=seed)
    state["y_transform"] = (pm, ps)
    state["warp"] = ("error", float(target_shift)) if shared else ("minmax", 0.0)
    return state
