"""`orch bench ask-time`: seconds per ask at 200 observations, with 100 past tasks in the meta-dataset.

A synthetic meta-dataset (bench.metaload's: 100 tasks of an MLP space with 6 hyperparameters, 200
trials each) under a scratch root; each strategy is planned and built as `orch tune` builds it and
asked 210 times on a smooth objective of the same family; the asks made with 193-208 observations are
timed (wall and process CPU).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

OBSERVED = (193, 209)


@dataclass(frozen=True)
class AskTimes:
    strategy: str
    past_tasks: int
    mean_wall_s: float
    worst_wall_s: float
    mean_cpu_s: float
    worst_cpu_s: float
    run_mean_wall_s: float


def _objective(config: dict[str, object]) -> float:
    """1 - accuracy of the synthetic family (metaload.write_meta's task 50)."""
    lr = float(config["learning_rate"])  # type: ignore[arg-type]
    drop = float(config["dropout"])  # type: ignore[arg-type]
    acc = 0.95 - 0.08 * (np.log10(lr) + 1.0) ** 2 - 0.1 * drop - 0.05 * (config["optimizer"] == "sgd")
    return float(1.0 - acc)


def ask_times(root: Path, strategies: list[str], tasks: int = 100, per_task: int = 200, seed: int = 0
              ) -> list[AskTimes]:
    from orchestrator.bench.metaload import SPACE, write_meta
    from orchestrator.metalearning.metadata import MetaData
    from orchestrator.space import space_from_yaml
    from orchestrator.strategies import (
        AUTO,
        STRATEGIES,
        StrategyContext,
        build_optimizer,
        plan_strategy,
    )
    from orchestrator.task import Task

    if not (root / "metadataset").exists() or len(list((root / "metadataset").glob("*.csv"))) != tasks:
        write_meta(root, tasks * per_task, tasks, tasks, seed=seed)
    meta = MetaData.load([root], lean=True)
    space = space_from_yaml(SPACE)
    target = Task("mlp", "new", "accuracy", False, {"rows": 4321, "features": 12, "classes": 3, "class_entropy": 0.9,
                                                    "modality": "tabular", "family": "mlp"})
    out = []
    for name in strategies:
        learns = name == AUTO or STRATEGIES[name].uses_meta
        planned, _ = plan_strategy(name, None, space, target, meta if learns else None, seed)
        opt = build_optimizer(StrategyContext(space=space, strategy=planned, seed=seed, n_trials=OBSERVED[1],
                                              task=target, meta=meta if learns else None))
        walls, cpus = [], []
        for _ in range(OBSERVED[1]):
            w0, c0 = time.perf_counter(), time.process_time()
            s = opt.ask()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            opt.tell(s, _objective(s.config))
        opt.close()
        w, c = np.array(walls[OBSERVED[0]:]), np.array(cpus[OBSERVED[0]:])
        out.append(AskTimes(planned.name if name == AUTO else name, len(meta.task_names()), float(w.mean()),
                            float(w.max()), float(c.mean()), float(c.max()), float(np.mean(walls))))
    pd.DataFrame([r.__dict__ for r in out]).to_csv(root / "ask_times.csv", index=False)
    return out
