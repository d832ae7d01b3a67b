"""`orch bench meta-load`: how long a large meta-dataset takes to load and to give a warm start.

Writes ``studies`` meta-dataset files of ``rows // studies`` trials each under a scratch root (the
files orch itself writes, with 6 hyperparameters and 6 meta-features), then times a cold load (no
cache), a load with the parquet cache, and the whole warm start of a new study (load + meta-smac's
prior and portfolio, or a selector), and prints a table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.metalearning.metadata import MetaData
from orchestrator.store.export import META_SCHEMA_VERSION

SPACE = """\
learning_rate: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
batch_size: {type: int, low: 16, high: 256, log: true}
hidden_units: {type: int, low: 16, high: 512, log: true}
layers: {type: int, low: 1, high: 4}
dropout: {type: float, low: 0.0, high: 0.5}
optimizer: {type: categorical, choices: [adam, sgd, rmsprop]}
"""


@dataclass
class MetaLoadTimes:
    rows: int
    studies: int
    tasks: int
    write_s: float
    cold_load_s: float
    cached_load_s: float
    warm_start_s: float
    warm_start_total_s: float
    selector: str
    smac_import_s: float


def study_frame(study: str, job: str, dataset: str, objective: str, direction: str, values: np.ndarray,
                hps: dict[str, Any], features: dict[str, Any], strategy: str = "random",
                wall_seconds: Any = 5.0) -> pd.DataFrame:
    """A past study's successful trials in the meta-dataset schema (what `orch tune` writes), from
    arrays of values and hyperparameters: synthetic meta-datasets for benchmarks and tests."""
    n = len(values)
    return pd.DataFrame({
        "schema_version": META_SCHEMA_VERSION, "study": study, "task": f"{job}:{dataset}", "job": job,
        "dataset": dataset, "objective": objective, "direction": direction, "strategy": strategy,
        "trial_id": [f"{j:04d}" for j in range(n)], "attempt": 0, "status": "SUCCESS", "value": values,
        "cost": values if direction == "minimize" else -np.asarray(values), "budget": "", "wall_seconds": wall_seconds,
        "gpu_hours": 0.0, "finished": 1.79e9, "origin": strategy, "config": "{}",
        **{f"hp:{k}": v for k, v in hps.items()}, **{f"mf:{k}": v for k, v in features.items()},
    })


def write_meta(root: Path, rows: int, studies: int, tasks: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "metadataset"
    folder.mkdir(parents=True, exist_ok=True)
    per = rows // studies
    for i in range(studies):
        t = i % tasks
        lr = 10 ** rng.uniform(-5, -1, per)
        bs = np.round(2 ** rng.uniform(4, 8, per)).astype(int)
        hu = np.round(2 ** rng.uniform(4, 9, per)).astype(int)
        opt = rng.choice(["adam", "sgd", "rmsprop"], per)
        drop = rng.uniform(0, 0.5, per)
        layers = rng.integers(1, 5, per)
        best_lr = 10 ** (-3.5 + 0.05 * t)
        acc = 0.95 - 0.08 * (np.log10(lr) - np.log10(best_lr)) ** 2 - 0.1 * drop - 0.05 * (opt == "sgd")
        acc += rng.normal(0, 0.01, per)
        df = study_frame(f"bench-{i:05d}", "mlp", f"ds{t:03d}", "accuracy", "maximize", acc, strategy="smac",
                         wall_seconds=rng.uniform(10, 100, per),
                         hps={"learning_rate": lr, "batch_size": bs, "hidden_units": hu, "layers": layers,
                              "dropout": drop, "optimizer": opt},
                         features={"rows": 1000 * (1 + t), "features": 10 + t % 7, "classes": 2 + t % 5,
                                   "class_entropy": 0.5 + (t % 3) / 3, "modality": "tabular", "family": "mlp"})
        df.to_csv(folder / f"bench-{i:05d}.csv", index=False)


def run_meta_load(root: Path, rows: int = 1_000_000, studies: int = 1000, tasks: int = 100,
                  selector: str = "meta-smac") -> MetaLoadTimes:
    from orchestrator.space import space_from_yaml
    from orchestrator.task import Task

    t0 = time.time()
    if not (root / "metadataset").exists() or len(list((root / "metadataset").glob("*.csv"))) != studies:
        write_meta(root, rows, studies, tasks)
    write_s = time.time() - t0
    cache = root / "metadataset" / ".cache"
    for f in cache.glob("*"):
        f.unlink()
    t0 = time.time()
    MetaData.load([root], use_cache=False)
    cold = time.time() - t0
    MetaData.load([root])  # writes the cache
    cs = space_from_yaml(SPACE)
    target = Task("mlp", "new", "accuracy", False, {"rows": 4321, "features": 12, "classes": 3, "class_entropy": 0.9,
                                                    "modality": "tabular", "family": "mlp"})
    t0 = time.time()
    import smac.facade  # noqa: F401  # every SMAC study pays this import, meta-learning or not: timed apart

    smac_import = time.time() - t0
    t0 = time.time()
    md = MetaData.load([root], lean=True)  # what a new study's warm start reads
    cached = time.time() - t0
    from orchestrator.spec import MetaOptions
    from orchestrator.strategies import plan_warm_start, strategy_of_selector

    learner = strategy_of_selector(selector)
    assert isinstance(learner.options, MetaOptions)
    n = learner.options.warm_configs
    t1 = time.time()
    warm = plan_warm_start(learner.name, cs, target, md, 0, learner.options).configs  # as `orch tune` plans it
    warm_s = time.time() - t1
    assert len(warm) == n, warm
    times = MetaLoadTimes(len(md), studies, len(md.task_names()), write_s, cold, cached, warm_s, cached + warm_s,
                          selector, smac_import)
    import json
    from dataclasses import asdict

    (root / "meta_load.json").write_text(json.dumps(asdict(times), indent=2))
    return times
