"""The meta-dataset reader, projection of configurations, task similarity."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.project import project, project_all
from orchestrator.metalearning.similarity import neighbours
from orchestrator.session import TuneRequest, prepare
from orchestrator.space import space_from_yaml

from conftest import quad_command

SPACE = """\
lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true, default: 1.0e-3}
batch_size: {type: int, low: 16, high: 128}
optimizer: {type: categorical, choices: [adam, sgd], default: adam}
momentum: {type: float, low: 0.0, high: 0.99, default: 0.9, condition: "optimizer == sgd"}
depth: [1, 2, 4, 8]
"""


def make_study(root: Path, name: str, trials: int, quad_space: Path) -> None:
    loop, notes = prepare(TuneRequest(root=root, study=name, command=quad_command(), space=str(quad_space),
                                      objective="loss", minimize=True, strategy="random", trials=trials,
                                      dataset_label=name, task_name="command"))
    loop.run(notes)


def test_reads_studies_skips_bad_files_and_excludes(tmp_path: Path, quad_space: Path) -> None:
    root = tmp_path / "r"
    make_study(root, "a", 3, quad_space)
    make_study(root, "b", 2, quad_space)
    (root / "metadataset" / "notes.csv").write_text("x,y\n1,2\n")
    (root / "metadataset" / "broken.csv").write_bytes(b'schema_version,study\n1,"unterminated\n')
    md = MetaData.load([root])
    assert len(md) == 5 and set(md.task_names()) == {"command:a", "command:b"}
    assert len(md.problems) == 2 and all("skipped" in p for p in md.problems)
    assert any("notes.csv: not an orch meta-dataset file" in p for p in md.problems)
    assert (md.df["cost"] == md.df["value"]).all()  # minimised objective: cost is the value
    assert len(MetaData.load([root], exclude_studies=["a"])) == 2
    infos = {t.name: t for t in md.tasks()}
    assert infos["command:a"].trials == 3 and infos["command:a"].hyperparameters == ["x", "y"]
    best = md.best_configs("command:a")[0]
    assert set(best) == {"x", "y"}


def test_cache_follows_changes(tmp_path: Path, quad_space: Path) -> None:
    root = tmp_path / "r"
    make_study(root, "a", 2, quad_space)
    assert len(MetaData.load([root])) == 2
    assert (root / "metadataset" / ".cache").exists()
    make_study(root, "b", 3, quad_space)  # a new study file after the cache was written
    assert len(MetaData.load([root])) == 5
    (root / "metadataset" / "a.csv").unlink()
    md = MetaData.load([root])
    assert len(md) == 3 and md.task_names() == ["command:b"]
    assert len(MetaData.load([root], use_cache=False)) == 3


def test_maximised_objectives_become_costs() -> None:
    df = pd.DataFrame({"schema_version": 1, "study": "s", "task": "t", "job": "j", "objective": "accuracy",
                       "direction": "maximize", "status": ["SUCCESS", "CRASHED"], "value": [0.9, None],
                       "hp:x": [1.0, 2.0]})

    md = MetaData.from_frame(df)
    assert len(md.ok) == 1 and float(md.ok["cost"].iloc[0]) == pytest.approx(-0.9)


def test_projection_into_a_new_space() -> None:
    cs = space_from_yaml(SPACE)
    p = project({"lr": 5.0, "batch_size": 7.6, "optimizer": "SGD", "momentum": 0.5, "depth": 3, "unknown": 1}, cs)
    assert p == {"lr": 0.1, "batch_size": 16, "optimizer": "sgd", "momentum": 0.5, "depth": 4}
    p = project({"lr": 0.01, "optimizer": "rmsprop", "momentum": 0.5}, cs)  # unknown choice -> default
    assert p is not None and p["optimizer"] == "adam" and "momentum" not in p and p["batch_size"] == cs["batch_size"].default_value
    assert len(project_all([{"lr": 0.01, "depth": 2}, {"lr": 0.01, "depth": 2.1}], cs)) == 1  # same after projection


def test_similarity_prefers_close_tasks_and_ignores_foreign_spaces() -> None:
    tasks = {
        "near": {"rows": 1000, "classes": 2, "modality": "text"},
        "far": {"rows": 1_000_000, "classes": 100, "modality": "image"},
        "other-space": {"rows": 1000, "classes": 2, "modality": "text"},
        "no-features": {},
    }
    hps = {"near": ["lr", "batch_size"], "far": ["lr"], "other-space": ["gamma"], "no-features": ["lr"]}
    nb = neighbours({"rows": 1200, "classes": 2, "modality": "text"}, tasks, hps, ["lr", "batch_size"])
    assert [n.task for n in nb] == ["near", "far", "no-features"]
    assert math.isinf(nb[-1].distance) and nb[0].shared == ("lr", "batch_size")


def test_meta_cli_views(tmp_path: Path, quad_space: Path) -> None:
    root = tmp_path / "r"
    make_study(root, "a", 3, quad_space)
    run = lambda *a: subprocess.run([sys.executable, "-m", "orchestrator.cli", "meta", *a, "--root", str(root)],  # noqa: E731
                                    capture_output=True, text=True)
    out = run("list")
    assert out.returncode == 0 and "command:a" in out.stdout
    show = run("show", "command:a", "--top", "2")
    assert show.returncode == 0 and "best 2 configurations" in show.stdout
    missing = run("show", "nope:x")
    assert missing.returncode == 2 and "no task 'nope:x'" in missing.stderr
    exp = run("export", "--out", str(tmp_path / "all.parquet"))
    assert exp.returncode == 0 and len(pd.read_parquet(tmp_path / "all.parquet")) == 3


def test_meta_load_benchmark_small(tmp_path: Path) -> None:
    """The meta-load benchmark end to end on a small generated meta-dataset (the 1M-row run is a script)."""
    from orchestrator.bench.metaload import run_meta_load

    r = run_meta_load(tmp_path, rows=3000, studies=12, tasks=6)
    assert r.rows == 3000 and r.studies == 12 and r.tasks == 6
    assert len(list((tmp_path / "metadataset").glob("*.csv"))) == 12
    assert (tmp_path / "metadataset" / ".cache").exists()
    assert 0 < r.cached_load_s and 0 < r.warm_start_s and r.warm_start_total_s >= r.warm_start_s


def write_past_fnn_studies(root: Path, datasets: list[str], rows: int = 40) -> None:
    """Meta-dataset files (the schema orch writes) of past fnn-regression studies on other datasets."""
    import numpy as np

    from orchestrator.bench.metaload import study_frame

    rng = np.random.default_rng(0)
    (root / "metadataset").mkdir(parents=True, exist_ok=True)
    for k, data in enumerate(datasets):
        lr = 10 ** rng.uniform(-4, -2, rows)
        neurons = rng.integers(64, 257, rows)
        mse = 0.4 + 0.1 * (np.log10(lr) + 2.5 + 0.2 * k) ** 2 + 0.0002 * np.abs(neurons - 200) + rng.normal(0, 0.005, rows)
        frame = study_frame(f"past-{data}", "fnn-regression", data, "mse", "minimize", mse,
                            hps={"batch_size": rng.integers(16, 65, rows), "layers": rng.integers(2, 5, rows),
                                 "learning_rate": lr, "neurons": neurons},
                            features={"rows": 1000 * (k + 1), "features": 8 + k, "modality": "tabular"})
        frame.to_csv(root / "metadataset" / f"past-{data}.csv", index=False)


def test_meta_suggest_prints_what_a_study_starts_with(tmp_path: Path) -> None:
    """`orch meta suggest --seed S` names the past tasks and gives the warm start `orch tune --seed S` records."""
    from orchestrator.suggest import suggest

    root = tmp_path / "r"
    write_past_fnn_studies(root, ["d1", "d2", "d3"])
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "meta", "suggest", "--job", "fnn-regression",
                          "--data", "wine-red", "--root", str(root), "--seed", "1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warm start (meta-smac)" in out.stdout
    assert all(f"fnn-regression:{d}" in out.stdout for d in ("d1", "d2", "d3"))
    shown = suggest("fnn-regression", "wine-red", None, "meta-smac", 3, root, [], {"data": "wine-red"}, seed=1)
    assert len(shown.plan.configs) == 3
    loop, _ = prepare(TuneRequest(root=root, study="new", job="fnn-regression", job_options={"data": "wine-red"},
                                  strategy="meta-smac", trials=4, seed=1))
    loop.executor.close()
    assert loop.spec.strategy.warm is not None
    assert list(loop.spec.strategy.warm.configs) == shown.plan.configs
    assert loop.spec.strategy.warm.studies == ("past-d1", "past-d2", "past-d3")
    asha = suggest("fnn-regression", "wine-red", None, "meta-asha", 2, root, [], {"data": "wine-red"}, seed=1)
    assert asha.plan.selector == "meta-asha" and len(asha.plan.configs) == 2  # its options are MetaAshaOptions
    loop, _ = prepare(TuneRequest(root=root, study="new-asha", job="fnn-regression", job_options={"data": "wine-red"},
                                  strategy="meta-asha", trials=4, seed=1))
    loop.executor.close()
    assert loop.spec.strategy.warm is not None and loop.spec.strategy.warm.selector == "meta-asha"
    shown = suggest("fnn-regression", "wine-red", None, "meta-asha", None, root, [], {"data": "wine-red"}, seed=1)
    assert list(loop.spec.strategy.warm.configs) == shown.plan.configs
