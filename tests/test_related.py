"""Relatedness that is earned: only past tasks whose space is compatible are sources; an unrelated past
study (another job, another modality) never changes a new study's start; every --command script is its
own task unless the user names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.bench.metaload import study_frame
from orchestrator.plan import TuneRequest, plan_study

def write_study(root: Path, study: str, job: str, dataset: str, objective: str, direction: str,
                hps: dict[str, np.ndarray], features: dict[str, object], values: np.ndarray) -> None:
    folder = root / "metadataset"
    folder.mkdir(parents=True, exist_ok=True)
    study_frame(study, job, dataset, objective, direction, values, hps, features).to_csv(folder / f"{study}.csv",
                                                                                          index=False)


def fnn_study(root: Path, rng: np.random.Generator) -> None:
    n = 30
    lr = 10 ** rng.uniform(-4, -2, n)
    write_study(root, "past-fnn", "fnn-regression", "diabetes", "mse", "minimize",
                {"learning_rate": lr, "batch_size": rng.integers(16, 65, n), "neurons": rng.integers(64, 257, n),
                 "layers": rng.integers(2, 5, n)},
                {"rows": 353, "features": 10, "modality": "tabular", "family": "fnn"},
                (np.log10(lr) + 2.8) ** 2 + rng.normal(0, 0.01, n))


def cnn_study(root: Path, rng: np.random.Generator) -> None:
    """A cnn study whose best learning rate (1e-4, batch 128) is far from the fnn study's."""
    n = 30
    lr = 10 ** rng.uniform(-4, -2, n)
    write_study(root, "past-cnn", "cnn", "mnist", "accuracy", "maximize",
                {"learning_rate": lr, "batch_size": rng.integers(32, 129, n), "filters": rng.integers(32, 129, n),
                 "kernel_size": rng.choice([3, 5], n), "dropout": rng.uniform(0.2, 0.5, n)},
                {"rows": 60000, "features": 784, "classes": 10, "modality": "image", "family": "cnn"},
                0.99 - (np.log10(lr) + 4) ** 2)


def plan_of(root: Path, data: str = "wine-red") -> Any:
    return plan_study(TuneRequest(root=root, study="new", job="fnn-regression", strategy="auto", trials=10,
                                  job_options={"data": data}))


def test_an_unrelated_cnn_study_does_not_change_an_fnn_studys_start(tmp_path: Path) -> None:
    only_fnn, both, only_cnn = tmp_path / "fnn", tmp_path / "both", tmp_path / "cnn"
    fnn_study(only_fnn, np.random.default_rng(0))
    fnn_study(both, np.random.default_rng(0))
    cnn_study(both, np.random.default_rng(1))
    cnn_study(only_cnn, np.random.default_rng(1))
    alone, mixed, unrelated = plan_of(only_fnn), plan_of(both), plan_of(only_cnn)
    from dataclasses import replace

    def start(plan: Any) -> Any:  # what the study starts from, wherever its root is
        return replace(plan.spec.strategy, warm=replace(plan.spec.strategy.warm, roots=()))

    assert start(mixed) == start(alone)  # the same warm start, the same past studies
    assert mixed.spec.strategy.warm.studies == ("past-fnn",)
    assert [t for t, _ in mixed.spec.strategy.warm.tasks] == ["fnn-regression:diabetes"]
    # with only the cnn study the new fnn study has nothing to learn from: plain SMAC, no cnn learning rates
    assert unrelated.spec.strategy.name == "smac" and unrelated.spec.strategy.warm.configs == ()


def test_a_job_with_a_space_that_maps_by_name_and_type_is_a_source(tmp_path: Path) -> None:
    """Another job whose trials set every hyperparameter of the new space (same names, numbers) counts."""
    root = tmp_path / "r"
    rng = np.random.default_rng(2)
    n = 30
    lr = 10 ** rng.uniform(-4, -2, n)
    write_study(root, "past-mlp", "my-mlp", "diabetes", "mse", "minimize",
                {"learning_rate": lr, "batch_size": rng.integers(16, 65, n), "neurons": rng.integers(64, 257, n),
                 "layers": rng.integers(2, 5, n), "dropout": rng.uniform(0, 0.5, n)},
                {"rows": 353, "features": 10, "modality": "tabular"}, (np.log10(lr) + 3) ** 2)
    plan = plan_of(root)
    assert plan.spec.strategy.name == "meta-smac" and plan.spec.strategy.warm.studies == ("past-mlp",)


def test_two_scripts_are_two_tasks_and_a_task_name_joins_them(tmp_path: Path, quad_space: Path) -> None:
    from conftest import quad_command

    def task(command: str, name: str | None = None) -> str:
        req = TuneRequest(root=tmp_path / "r", command=command, space=str(quad_space), objective="loss",
                          minimize=True, strategy="random", task_name=name)
        return plan_study(req).spec.task.name

    a, b = quad_command(), quad_command("--noise 0.1")
    assert task(a) == task(a) != task(b)
    assert task(a).startswith("command-") and task(a).endswith(":custom")
    assert task(a, "quadratic") == task(b, "quadratic") == "quadratic:custom"
